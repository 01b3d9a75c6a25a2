// An OTLP/HTTP trace receiver for tests: a node:http server taking POST /v1/traces in the JSON
// encoding (gzip or not), flattening every span with its resource, and telling waiters as spans arrive.
import http from 'node:http';
import { gunzipSync } from 'node:zlib';

/** One received span, with the resource attributes of the process that sent it. */
export interface ReceivedSpan {
  readonly traceId: string;
  readonly spanId: string;
  /** '' for a root span. */
  readonly parentSpanId: string;
  readonly name: string;
  /** OTLP SpanKind: 2 server, 3 client. */
  readonly kind: number;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  readonly statusCode: number;
  readonly attributes: Readonly<Record<string, string | number | boolean>>;
  readonly resource: Readonly<Record<string, string | number | boolean>>;
}

interface OtlpValue {
  readonly stringValue?: string;
  readonly intValue?: string | number;
  readonly boolValue?: boolean;
  readonly doubleValue?: number;
}
interface OtlpAttribute {
  readonly key: string;
  readonly value: OtlpValue;
}
interface OtlpRequest {
  readonly resourceSpans?: readonly {
    readonly resource?: { readonly attributes?: readonly OtlpAttribute[] };
    readonly scopeSpans?: readonly {
      readonly spans?: readonly {
        readonly traceId: string;
        readonly spanId: string;
        readonly parentSpanId?: string;
        readonly name: string;
        readonly kind: number;
        readonly status?: { readonly code?: number };
        readonly attributes?: readonly OtlpAttribute[];
      }[];
    }[];
  }[];
}

/** A running receiver. */
export interface OtlpReceiver {
  /** The URL to configure as the traces endpoint. */
  readonly url: string;
  readonly spans: readonly ReceivedSpan[];
  /** Content types of the export requests received. */
  readonly contentTypes: readonly string[];
  /** Resolves once `predicate` holds over the spans received so far (checked on every arrival); rejects after `limitMs`. */
  waitFor(predicate: (spans: readonly ReceivedSpan[]) => boolean, limitMs?: number): Promise<readonly ReceivedSpan[]>;
  close(): Promise<void>;
}

function attributesOf(list: readonly OtlpAttribute[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const a of list ?? []) {
    const v = a.value;
    out[a.key] = v.stringValue ?? (v.intValue !== undefined ? Number(v.intValue) : undefined) ?? v.boolValue ?? v.doubleValue ?? '';
  }
  return out;
}

/** Starts a receiver on `host`, port 0. */
export async function startOtlpReceiver(host = '127.0.0.1'): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const contentTypes: string[] = [];
  const waiters = new Set<() => void>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.method !== 'POST' || req.url !== '/v1/traces') {
        res.writeHead(404).end();
        return;
      }
      const type = req.headers['content-type'] ?? '';
      contentTypes.push(type);
      if (!type.startsWith('application/json')) {
        // The exporter is configured for JSON; anything else (protobuf) is refused visibly.
        res.writeHead(415, { 'content-type': 'text/plain' }).end('JSON only');
        return;
      }
      const raw = Buffer.concat(chunks);
      const body = JSON.parse((req.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8')) as OtlpRequest;
      for (const rs of body.resourceSpans ?? []) {
        const resource = attributesOf(rs.resource?.attributes);
        for (const ss of rs.scopeSpans ?? []) {
          for (const s of ss.spans ?? []) {
            spans.push({ traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? '', name: s.name, kind: s.kind, statusCode: s.status?.code ?? 0, attributes: attributesOf(s.attributes), resource });
          }
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
      for (const w of [...waiters]) w();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    url: `http://${host}:${port}/v1/traces`,
    spans,
    contentTypes,
    waitFor: (predicate, limitMs = 30_000) =>
      new Promise((resolve, reject) => {
        if (predicate(spans)) return resolve(spans);
        const check = (): void => {
          if (!predicate(spans)) return;
          waiters.delete(check);
          clearTimeout(limit);
          resolve(spans);
        };
        // A bound on a failing test, not a wait for the event: the event resolves it.
        const limit = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`the receiver did not get the expected spans in ${limitMs} ms; it has ${spans.length}: ${JSON.stringify(spans.map((s) => [s.resource['service.name'], s.kind, s.traceId, s.spanId, s.parentSpanId]))}`));
        }, limitMs);
        waiters.add(check);
      }),
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
