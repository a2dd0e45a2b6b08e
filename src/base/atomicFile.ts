import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Writes `data` to `file` through a new temp file beside it, then a rename: a reader never sees half
 * a file, and a failure leaves the old one (and no temp file) behind. The folder must exist.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, options: { readonly mode?: number } = {}): Promise<void> {
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    await fs.writeFile(temp, data, { flag: 'wx', mode: options.mode });
    await fs.rename(temp, file);
  } catch (e) {
    await fs.rm(temp, { force: true }).catch(() => undefined);
    throw e;
  }
}
