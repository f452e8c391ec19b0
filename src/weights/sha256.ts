import { sha256 } from '@noble/hashes/sha2';
import { bytesToHex } from '@noble/hashes/utils';

/**
 * SHA-256 through @noble/hashes, which can hash a stream piece by piece (WebCrypto's `digest`
 * needs the whole input at once): shards are hashed while their bytes arrive, with no second pass.
 */
export interface Sha256Stream {
  update(bytes: Uint8Array): void;
  /** Lower-case hex digest; the stream cannot be updated afterwards. */
  hex(): string;
}

export function sha256Stream(): Sha256Stream {
  const h = sha256.create();
  return {
    update: (bytes) => void h.update(bytes),
    hex: () => bytesToHex(h.digest()),
  };
}

/** Hashes in 4 MiB pieces (keeps each call short on large in-memory shards). */
const PIECE = 4 * 1024 * 1024;

/** Lower-case hex SHA-256 of bytes already in memory (cache hits, the converter's shards). */
export function sha256Hex(bytes: Uint8Array): string {
  const h = sha256Stream();
  for (let at = 0; at < bytes.byteLength; at += PIECE) h.update(bytes.subarray(at, Math.min(bytes.byteLength, at + PIECE)));
  return h.hex();
}
