// Reads the server name (SNI) from the first bytes of a TLS connection (pure), so that an opaque
// stream to a destination outside the mesh can be matched against the egress policy by host name.

/**
 * The host name of the server_name extension in a TLS ClientHello at the start of `bytes`, or
 * undefined when the bytes are not a (complete, first-record) ClientHello or carry no host name.
 */
export function readSni(bytes: Buffer): string | undefined {
  // Record header: type 22 (handshake), version 3.x, length.
  if (bytes.length < 5 || bytes[0] !== 0x16 || bytes[1] !== 0x03) return undefined;
  const recordEnd = Math.min(bytes.length, 5 + bytes.readUInt16BE(3));
  // Handshake header: type 1 (ClientHello), 3-byte length; then version (2) and random (32).
  let at = 5;
  if (recordEnd < at + 4 || bytes[at] !== 0x01) return undefined;
  at += 4 + 2 + 32;
  const skip = (lengthBytes: 1 | 2): boolean => {
    if (at + lengthBytes > recordEnd) return false;
    const length = lengthBytes === 1 ? (bytes[at] ?? 0) : bytes.readUInt16BE(at);
    at += lengthBytes + length;
    return at <= recordEnd;
  };
  // Session id, cipher suites, compression methods.
  if (!skip(1) || !skip(2) || !skip(1)) return undefined;
  if (at + 2 > recordEnd) return undefined;
  const extensionsEnd = Math.min(recordEnd, at + 2 + bytes.readUInt16BE(at));
  at += 2;
  while (at + 4 <= extensionsEnd) {
    const type = bytes.readUInt16BE(at);
    const length = bytes.readUInt16BE(at + 2);
    at += 4;
    if (type === 0) return serverName(bytes.subarray(at, Math.min(at + length, extensionsEnd)));
    at += length;
  }
  return undefined;
}

// server_name extension body: list length (2), then entries of type (1), length (2), name.
function serverName(body: Buffer): string | undefined {
  let at = 2;
  while (at + 3 <= body.length) {
    const type = body[at];
    const length = body.readUInt16BE(at + 1);
    at += 3;
    if (at + length > body.length) return undefined;
    if (type === 0) {
      const name = body.subarray(at, at + length).toString('latin1').toLowerCase();
      return /^[a-z0-9.-]+$/.test(name) ? name : undefined;
    }
    at += length;
  }
  return undefined;
}
