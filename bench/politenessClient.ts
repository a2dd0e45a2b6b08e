/**
 * The politeness benchmark's client, a fresh process per run so the process-wide token bucket
 * starts full, as in a freshly started extension:
 *
 *   node out/bench/politenessClient.js store <runcomfyUrl> <n>     n concurrent MachineStore.refresh()
 *   node out/bench/politenessClient.js clients <runcomfyUrl> <n>   n RunComfyClients, one listMachines() each, at once
 *
 * First it times one request alone (the round trip even a perfect client pays once) the way the
 * measured calls make theirs, from a new client (and, for `store`, a new MachineStore), then the
 * measured calls, which use demo token 1 and the process-wide bucket. Prints one JSON line.
 */
import { RunComfyClient } from '../src/api/runcomfyClient';
import { TokenBucket } from '../src/api/tokenBucket';
import { MachineStore } from '../src/core/machineStore';
import { demoTokens, demoUserId } from '../src/simulator/runcomfy/demoSeed';

export interface PolitenessResult {
  readonly seconds: number;
  /** One bare request's round trip, in seconds. */
  readonly roundTrip: number;
}

async function main(): Promise<void> {
  const [mode, apiUrl, count] = process.argv.slice(2);
  const n = Number(count);
  // The bucket's timers do not hold the process open (an extension host stays up anyway): this does.
  const keepAlive = setInterval(() => undefined, 1000);
  const client = (token: string, bucket?: TokenBucket) => new RunComfyClient({ baseUrl: apiUrl, userId: demoUserId, getToken: () => Promise.resolve(token), bucket });
  // One request's round trip through the same code, with the other token and a bucket of its own,
  // so neither the shared bucket nor the measured token's server-side allowance is touched. A first
  // one warms the code; the timed one comes from a new client (and store), as the measured ones do.
  const bucket = new TokenBucket();
  const once = async () => {
    if (mode === 'store') {
      const alone = new MachineStore(client(demoTokens[1], bucket));
      await alone.refresh();
      alone.dispose();
    } else {
      await client(demoTokens[1], bucket).listMachines();
    }
  };
  await once();
  let t = performance.now();
  await once();
  const roundTrip = (performance.now() - t) / 1000;

  t = performance.now();
  if (mode === 'store') {
    const store = new MachineStore(client(demoTokens[0]));
    await Promise.all(Array.from({ length: n }, () => store.refresh()));
    store.dispose();
  } else if (mode === 'clients') {
    await Promise.all(Array.from({ length: n }, () => client(demoTokens[0]).listMachines()));
  } else {
    throw new Error(`usage: politenessClient store|clients <url> <n>; got ${mode}`);
  }
  const result: PolitenessResult = { seconds: (performance.now() - t) / 1000, roundTrip };
  clearInterval(keepAlive);
  console.log(JSON.stringify(result));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
