import { open } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { checkRange, type ByteSource } from '../weights/byte-source.js';
import type { ExternalReader } from '../weights/onnx.js';
import type { DirectoryReader } from '../weights/safetensors.js';
import { fileSize, insideFolder, readTextChecked, typed } from './fs-checks.js';

/**
 * A local file read by ranges. Each read opens, reads and closes the file, so a source needs no
 * dispose and many sources (one per shard or checkpoint) never exhaust file descriptors. A
 * missing path, a folder, or a file that vanishes later is a FileAccessError naming it.
 */
export async function fileSource(path: string, name = basename(path)): Promise<ByteSource> {
  const size = await fileSize(path);
  return {
    name,
    size,
    async read(offset, length, signal) {
      signal?.throwIfAborted();
      checkRange({ name, size }, offset, length);
      const bytes = new Uint8Array(length);
      const handle = await typed(path, 'read', () => open(path, 'r'));
      try {
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(bytes, done, length - done, offset + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        if (done !== length) checkRange({ name, size: offset + done }, offset, length);
      } finally {
        await handle.close();
      }
      signal?.throwIfAborted();
      return bytes;
    },
  };
}

/** A DirectoryReader over the local file system, for `openDiffusersShards`. */
export const fileDirectoryReader: DirectoryReader = {
  readText: (path) => readTextFile(path),
  open: (path) => fileSource(path),
};

/** Reads a small text file (index JSON, config, tokenizer) as UTF-8. */
export function readTextFile(path: string): Promise<string> {
  return readTextChecked(path);
}

/** ONNX external data read from files beside the model (`openOnnx(src, { readExternal })`). */
export function externalDataReader(modelPath: string): ExternalReader {
  const dir = dirname(modelPath);
  const sources = new Map<string, Promise<ByteSource>>();
  return async (location, offset, length, signal) => {
    let src = sources.get(location);
    if (!src) {
      // openOnnx has checked the location is relative without "..": this is the second fence.
      src = (async () => fileSource(insideFolder(dir, location), location))();
      sources.set(location, src);
    }
    return (await src).read(offset, length, signal);
  };
}
