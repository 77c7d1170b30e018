// Benchmark (prints figures, asserts nothing): what keeping an agent's outputs costs, against
// doing the same by hand with standard tools, on the same bytes in the same run.
//   ours:     DockerRuntime.collectOutput (the engine's archive API on the stopped container),
//             relativeToOutput, contentTypes + decidePromotion (the artifactAccess gate) and
//             OutputStore.store (blobs + manifest over the OCI distribution API) — the
//             controller's path (src/reconcilers/container-outputs.ts) minus the status write.
//   baseline: `podman cp` of the folder, `tar -cf` of it, `sha256sum`, and a plain push with
//             curl (POST an upload, PUT the blob monolithically, PUT the config and manifest).
// Each pushes to a registry of its own (Debian's docker-registry, two processes), so neither
// finds the other's blobs already there. Three output shapes: one 1 MB file, one 100 MB file,
// 1,000 files of 1 KB. Median of BENCH_ROUNDS rounds (default 3), baseline and ours alternating
// which goes first.
// Run: make bench-outputs
import { execFile, execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startRegistryService } from '../../src/dev/registry-service.ts';
import { decidePromotion } from '../../src/governance/output-promotion.ts';
import { contentTypes } from '../../src/outputs/content-types.ts';
import { OciRegistry, EMPTY_CONFIG, OCI_MANIFEST, OUTPUT_ARTIFACT_TYPE } from '../../src/outputs/oci-registry.ts';
import { relativeToOutput } from '../../src/outputs/output-archive.ts';
import { OutputStore, OUTPUT_LAYER_TYPE } from '../../src/outputs/output-store.ts';
import { DockerRuntime } from '../../src/runtimes/docker/docker-runtime.ts';
import { MANAGED_BY, MANAGED_BY_LABEL, RECORD_UID_LABEL } from '../../src/runtimes/container-runtime.ts';
import { dockerSocket, sandboxImage } from '../support/integration-env.ts';
import { suffix } from '../support/objects.ts';

const run = promisify(execFile);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const root = fileURLToPath(new URL('../../', import.meta.url));
const work = mkdtempSync(path.join(tmpdir(), 'am-bench-outputs-'));
const PROFILE = { metadata: { name: 'bench' }, spec: { profileType: 'personal', authority: { delegator: 'a', delegate: 'b', scopes: [], expiresAt: '2030-01-01T00:00:00Z', purpose: 'bench' }, budgetCeilings: {} } } as never;

const SHAPES: Array<{ name: string; script: string }> = [
  { name: '1 MB file', script: 'head -c 1048576 /dev/urandom > /out/data.bin' },
  { name: '100 MB file', script: 'head -c 104857600 /dev/urandom > /out/data.bin' },
  { name: '1,000 files of 1 KB', script: 'i=0; while [ $i -lt 1000 ]; do head -c 1024 /dev/urandom > /out/f$i.bin; i=$((i+1)); done' },
];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** A stopped container that wrote the shape into its /out volume, labelled as a record's. */
async function writtenContainer(script: string): Promise<{ uid: string; name: string; volume: string }> {
  const uid = `bench-${suffix()}-${suffix()}`;
  const name = `am-bench-out-${uid}`;
  const volume = `${name}-out`;
  await run('podman', ['create', '--name', name, '--user', '0', '--network', 'none', '--label', `${RECORD_UID_LABEL}=${uid}`, '--label', `${MANAGED_BY_LABEL}=${MANAGED_BY}`, '-v', `${volume}:/out`, sandboxImage(), 'sh', '-c', script]);
  await run('podman', ['start', '--attach', name], { maxBuffer: 1 << 20 });
  return { uid, name, volume };
}

async function ours(runtime: DockerRuntime, store: OutputStore, c: { uid: string }): Promise<number> {
  const t0 = performance.now();
  const tar = await relativeToOutput(await runtime.collectOutput(c.uid, '/out', 1 << 30), '/out');
  const promotion = decidePromotion(PROFILE, { name: 'report', size: tar.length, contentTypes: await contentTypes(tar) });
  await store.store('bench', `rec-${c.uid}`, c.uid, { name: 'report', tar }, promotion.admitted ? 'admitted' : 'provisional', new Date(), {});
  return performance.now() - t0;
}

/** podman cp + tar + sha256sum + curl: what a person would script. */
async function baseline(registryUrl: string, c: { uid: string; name: string }): Promise<number> {
  const dir = mkdtempSync(path.join(work, 'cp-'));
  mkdirSync(path.join(dir, 'out'));
  const t0 = performance.now();
  await run('podman', ['cp', `${c.name}:/out/.`, path.join(dir, 'out')]);
  const tarPath = path.join(dir, 'out.tar');
  await run('tar', ['-cf', tarPath, '-C', path.join(dir, 'out'), '.']);
  const digest = `sha256:${(await run('sha256sum', [tarPath])).stdout.split(' ')[0]}`;
  const size = Number((await run('stat', ['-c', '%s', tarPath])).stdout.trim());
  const repo = `plain/rec-${c.uid}`;
  const pushBlob = async (file: string, d: string) => {
    const post = await run('curl', ['-sS', '-o', '/dev/null', '-D', '-', '-X', 'POST', `${registryUrl}/v2/${repo}/blobs/uploads/`]);
    const location = /^location:\s*(\S+)/im.exec(post.stdout)?.[1];
    if (!location) throw new Error(`no upload location: ${post.stdout}`);
    const url = new URL(location, registryUrl);
    url.searchParams.set('digest', d);
    await run('curl', ['-sS', '-f', '-o', '/dev/null', '-X', 'PUT', '-H', 'content-type: application/octet-stream', '--data-binary', `@${file}`, url.toString()]);
  };
  const configPath = path.join(dir, 'config.json');
  writeFileSync(configPath, '{}');
  await pushBlob(configPath, EMPTY_CONFIG.digest);
  await pushBlob(tarPath, digest);
  const manifestPath = path.join(dir, 'manifest.json');
  writeFileSync(manifestPath, JSON.stringify({ schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType: OUTPUT_ARTIFACT_TYPE, config: EMPTY_CONFIG, layers: [{ mediaType: OUTPUT_LAYER_TYPE, digest, size }] }));
  await run('curl', ['-sS', '-f', '-o', '/dev/null', '-X', 'PUT', '-H', `content-type: ${OCI_MANIFEST}`, '--data-binary', `@${manifestPath}`, `${registryUrl}/v2/${repo}/manifests/${c.uid}`]);
  const ms = performance.now() - t0;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

async function main(): Promise<void> {
  const bin = execFileSync('bash', [path.join(root, 'scripts/ensure-registry.sh')], { encoding: 'utf8' }).trim();
  const mine = await startRegistryService({ binPath: bin, dataDir: path.join(work, 'registry-ours') });
  const plain = await startRegistryService({ binPath: bin, dataDir: path.join(work, 'registry-plain') });
  const runtime = new DockerRuntime({ socketPath: dockerSocket().replace(/^unix:\/\//, '') });
  const store = new OutputStore(new OciRegistry({ url: mine.url }));
  const rows: string[] = [];
  try {
    for (const shape of SHAPES) {
      const a: number[] = [];
      const b: number[] = [];
      for (let round = 0; round <= ROUNDS; round++) {
        const c = await writtenContainer(shape.script);
        try {
          const order = round % 2 === 0 ? ['ours', 'baseline'] : ['baseline', 'ours'];
          const took: Record<string, number> = {};
          for (const which of order) took[which] = which === 'ours' ? await ours(runtime, store, c) : await baseline(plain.url, c);
          // Round 0 warms both paths (connections, page cache) and is not counted.
          if (round > 0) {
            a.push(took.ours!);
            b.push(took.baseline!);
          }
        } finally {
          await run('podman', ['rm', '-f', '-v', c.name]).catch(() => undefined);
          await run('podman', ['volume', 'rm', '-f', c.volume]).catch(() => undefined);
        }
      }
      const row = `| ${shape.name} | ${median(a).toFixed(0)} ms | ${median(b).toFixed(0)} ms | ${(median(a) / median(b)).toFixed(2)}× |`;
      console.log(`${shape.name}: ours ${a.map((x) => x.toFixed(0)).join(', ')} ms; baseline ${b.map((x) => x.toFixed(0)).join(', ')} ms`);
      rows.push(row);
    }
  } finally {
    await mine.stop();
    await plain.stop();
    rmSync(work, { recursive: true, force: true });
  }
  console.log('\n| Output | collect + gate + push (ours), median | podman cp + tar + sha256sum + curl push, median | ratio |');
  console.log('|---|---|---|---|');
  for (const r of rows) console.log(r);
}

await main();
