// Per-connection series (bytes each way, lifetime), counted once when an accepted connection
// closes: the socket already keeps its byte counts, so nothing runs per read or write.
import type { Socket } from 'node:net';
import type { ProxyMetrics } from './metrics.js';
import { TLS_MUTUAL, TLS_NO_IDENTITY } from '../mesh/metrics/vocabulary.js';

/** What a tracked connection turned out to carry, set once it is known. */
export interface ConnectionFacts {
  /** http (HTTP/1.1, h2, upgrades) or tcp (opaque); http until detection says otherwise. */
  protocol: 'http' | 'tcp';
  /** Bytes read that were weft's own framing (the opaque preamble), not the peer's payload. */
  framingRead: number;
}

/**
 * Counts `socket` under `direction` when it closes; returns the facts the caller fills in meanwhile.
 * tls follows from the side: inbound connections are mutual TLS from a peer sidecar whose identity
 * was checked (tls="true"); outbound ones are the app's own plain connections (tls="no_identity").
 */
export function trackConnection(metrics: ProxyMetrics, socket: Socket, direction: 'inbound' | 'outbound', now: () => number): ConnectionFacts {
  const tls = direction === 'inbound' ? TLS_MUTUAL : TLS_NO_IDENTITY;
  const facts: ConnectionFacts = { protocol: 'http', framingRead: 0 };
  const opened = now();
  socket.once('close', () => {
    const protocol = facts.protocol;
    const key = `${direction}|${protocol}|${tls}`;
    const labels = (): Record<string, string> => ({ direction, protocol, tls });
    metrics.tcpReadBytes.row(key, labels).value += Math.max(0, socket.bytesRead - facts.framingRead);
    metrics.tcpWriteBytes.row(key, labels).value += socket.bytesWritten;
    metrics.connectionDuration.observe(metrics.connectionDuration.row(key, labels), (now() - opened) / 1000);
  });
  return facts;
}
