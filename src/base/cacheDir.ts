import * as os from 'node:os';
import * as path from 'node:path';

/**
 * The folder where RunComfy keeps small per-user state that may be thrown away at any time (the
 * rate-limit state every process of an account shares): `RUNCOMFY_CACHE_DIR` when set (tests use
 * it to keep their state apart), else `runcomfy` in the OS cache folder: `$XDG_CACHE_HOME` or
 * `~/.cache` on Linux and the BSDs, `~/Library/Caches` on macOS, `%LOCALAPPDATA%` on Windows.
 * Only absolute paths from the environment are taken (the XDG spec says to ignore relative ones).
 */
export function runcomfyCacheDir(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, home: string = os.homedir()): string {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const absolute = (value: string | undefined): string | undefined => {
    const v = value?.trim();
    return v && p.isAbsolute(v) ? v : undefined;
  };
  const override = absolute(env.RUNCOMFY_CACHE_DIR);
  if (override) return override;
  const base =
    platform === 'win32'
      ? (absolute(env.LOCALAPPDATA) ?? p.join(home, 'AppData', 'Local'))
      : platform === 'darwin'
        ? p.join(home, 'Library', 'Caches')
        : (absolute(env.XDG_CACHE_HOME) ?? p.join(home, '.cache'));
  return p.join(base, 'runcomfy');
}
