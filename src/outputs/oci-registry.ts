// Agent outputs as OCI artifacts, over the OCI distribution API (v1.1): blobs pushed
// content-addressed (sha256), one image manifest per output set with agent-machine's artifact
// type, pulled back with every digest and size verified. Spoken directly over fetch: the API
// is five requests, and the JavaScript OCI clients on npm are either unmaintained or pull in a
// container-image toolchain we do not need. Users pull the same artifacts with oras or skopeo.
import { createHash } from 'node:crypto';

export const OUTPUT_ARTIFACT_TYPE = 'application/vnd.agentmachine.output.v1';
export const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
/** The empty config OCI 1.1 artifacts carry: the two bytes `{}`. */
export const EMPTY_CONFIG = { mediaType: 'application/vnd.oci.empty.v1+json', digest: 'sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a', size: 2 } as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ArtifactFile {
  /** The file's name, kept as the layer's org.opencontainers.image.title. */
  name: string;
  mediaType: string;
  data: Buffer;
}

export interface OciManifest {
  schemaVersion: 2;
  mediaType: typeof OCI_MANIFEST;
  artifactType: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export class RegistryError extends Error {
  readonly status: number | undefined;
  constructor(message: string, status?: number) {
    super(message);
    this.name = 'RegistryError';
    this.status = status;
  }
}

export function sha256Digest(data: Buffer | string): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

const REPOSITORY = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/;
const TAG = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export class OciRegistry {
  readonly #base: string;
  readonly #auth: string | undefined;
  readonly #timeoutMs: number;

  /** url: http(s)://host[:port]; credentials sent as Basic (a pull/push Secret's user and password). */
  constructor(opts: { url: string; username?: string; password?: string; timeoutMs?: number }) {
    // Credentials in the URL become the Basic header: the URL itself shows up in messages.
    const url = new URL(opts.url);
    const username = opts.username ?? (url.username ? decodeURIComponent(url.username) : undefined);
    const password = opts.password ?? (url.password ? decodeURIComponent(url.password) : undefined);
    url.username = '';
    url.password = '';
    this.#base = url.toString().replace(/\/+$/, '');
    this.#auth = username !== undefined ? `Basic ${Buffer.from(`${username}:${password ?? ''}`).toString('base64')}` : undefined;
    this.#timeoutMs = opts.timeoutMs ?? 60_000;
  }

  /** host[:port] of the registry, as references name it. */
  get host(): string {
    return new URL(this.#base).host;
  }

  /** Pushes the blob unless the registry has it already; answers its descriptor. */
  async pushBlob(repo: string, data: Buffer, mediaType: string): Promise<Descriptor> {
    checkRepository(repo);
    const digest = sha256Digest(data);
    const head = await this.#request('HEAD', `/v2/${repo}/blobs/${digest}`);
    if (head.status === 200) return { mediaType, digest, size: data.length };
    const start = await this.#request('POST', `/v2/${repo}/blobs/uploads/`);
    if (start.status !== 202) throw await failure(start, `starting an upload to ${repo}`);
    const location = start.headers.get('location');
    if (!location) throw new RegistryError(`the registry started an upload to ${repo} without a Location`);
    const upload = new URL(location, this.#base);
    upload.searchParams.set('digest', digest);
    const put = await this.#request('PUT', upload.pathname + upload.search, data, { 'content-type': 'application/octet-stream' });
    if (put.status !== 201) throw await failure(put, `uploading ${digest} to ${repo}`);
    return { mediaType, digest, size: data.length };
  }

  /** Pushes the files and one manifest of artifactType tagged `tag`; answers the manifest's digest and reference. */
  async pushArtifact(repo: string, tag: string, files: readonly ArtifactFile[], annotations: Record<string, string> = {}, artifactType = OUTPUT_ARTIFACT_TYPE): Promise<{ digest: string; reference: string; manifest: OciManifest }> {
    checkRepository(repo);
    if (!TAG.test(tag)) throw new RegistryError(`${JSON.stringify(tag)} is not a valid tag`);
    await this.pushBlob(repo, Buffer.from('{}'), EMPTY_CONFIG.mediaType);
    const layers: Descriptor[] = [];
    for (const f of files) {
      const d = await this.pushBlob(repo, f.data, f.mediaType);
      layers.push({ ...d, annotations: { 'org.opencontainers.image.title': f.name } });
    }
    const manifest: OciManifest = { schemaVersion: 2, mediaType: OCI_MANIFEST, artifactType, config: { ...EMPTY_CONFIG }, layers, ...(Object.keys(annotations).length ? { annotations } : {}) };
    const body = Buffer.from(JSON.stringify(manifest));
    const digest = sha256Digest(body);
    const put = await this.#request('PUT', `/v2/${repo}/manifests/${tag}`, body, { 'content-type': OCI_MANIFEST });
    if (put.status !== 201) throw await failure(put, `putting the manifest of ${repo}:${tag}`);
    const answered = put.headers.get('docker-content-digest');
    if (answered && answered !== digest) throw new RegistryError(`the registry stored ${repo}:${tag} as ${answered}, not ${digest}`);
    return { digest, reference: `${this.host}/${repo}@${digest}`, manifest };
  }

  /** The manifest at ref (a tag or a digest), its bytes checked against a digest reference. */
  async pullManifest(repo: string, ref: string): Promise<{ digest: string; manifest: OciManifest }> {
    checkRepository(repo);
    const res = await this.#request('GET', `/v2/${repo}/manifests/${ref}`, undefined, { accept: OCI_MANIFEST });
    if (res.status !== 200) throw await failure(res, `reading the manifest ${repo}:${ref}`);
    const body = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(body);
    if (ref.startsWith('sha256:') && ref !== digest) throw new RegistryError(`the manifest ${repo}@${ref} has digest ${digest}`);
    const manifest = JSON.parse(body.toString('utf8')) as OciManifest;
    if (manifest.mediaType !== OCI_MANIFEST || !Array.isArray(manifest.layers)) throw new RegistryError(`${repo}:${ref} is not an OCI image manifest`);
    return { digest, manifest };
  }

  /** The blob, refused unless its bytes have the descriptor's digest and size. */
  async pullBlob(repo: string, d: Descriptor): Promise<Buffer> {
    checkRepository(repo);
    const res = await this.#request('GET', `/v2/${repo}/blobs/${d.digest}`);
    if (res.status !== 200) throw await failure(res, `reading ${d.digest} from ${repo}`);
    const data = Buffer.from(await res.arrayBuffer());
    const digest = sha256Digest(data);
    if (digest !== d.digest || data.length !== d.size) throw new RegistryError(`blob ${d.digest} of ${repo} came back as ${digest} (${data.length} bytes, expected ${d.size})`);
    return data;
  }

  /** Repositories the registry holds (the catalog, every page). */
  async repositories(): Promise<string[]> {
    return this.#paged('/v2/_catalog?n=1000', 'repositories', 'listing the catalog');
  }

  /** Tags of a repository; none when the repository is gone. */
  async tags(repo: string): Promise<string[]> {
    checkRepository(repo);
    return this.#paged(`/v2/${repo}/tags/list?n=1000`, 'tags', `listing the tags of ${repo}`);
  }

  /** Deletes a manifest by digest (its tags go with it; blobs are left to the registry's garbage collection). */
  async deleteManifest(repo: string, digest: string): Promise<void> {
    checkRepository(repo);
    if (!/^sha256:[a-f0-9]{64}$/.test(digest)) throw new RegistryError(`${JSON.stringify(digest)} is not a sha256 digest`);
    const res = await this.#request('DELETE', `/v2/${repo}/manifests/${digest}`);
    if (res.status !== 202 && res.status !== 404) throw await failure(res, `deleting ${repo}@${digest}`);
  }

  async #paged(first: string, key: 'repositories' | 'tags', what: string): Promise<string[]> {
    const all: string[] = [];
    let next: string | undefined = first;
    for (let page = 0; next && page < 1000; page++) {
      const res = await this.#request('GET', next);
      if (res.status === 404) return all;
      if (res.status !== 200) throw await failure(res, what);
      const body = (await res.json()) as Record<string, unknown>;
      const items = body[key];
      if (Array.isArray(items)) all.push(...items.filter((i): i is string => typeof i === 'string'));
      // Link: </v2/_catalog?last=x&n=1000>; rel="next"
      const link = /<([^>]+)>;\s*rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      next = link ? new URL(link, this.#base).pathname + new URL(link, this.#base).search : undefined;
    }
    return all;
  }

  async #request(method: string, path: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Response> {
    try {
      return await fetch(`${this.#base}${path}`, {
        method,
        headers: { ...headers, ...(this.#auth ? { authorization: this.#auth } : {}) },
        ...(body ? { body } : {}),
        redirect: 'follow',
        signal: AbortSignal.timeout(this.#timeoutMs),
      });
    } catch (err) {
      throw new RegistryError(`the registry ${this.#base} did not answer ${method} ${path.split('?')[0]}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
}

function checkRepository(repo: string): void {
  if (repo.length > 255 || !REPOSITORY.test(repo)) throw new RegistryError(`${JSON.stringify(repo)} is not a valid repository name`);
}

async function failure(res: Response, what: string): Promise<RegistryError> {
  // The registry's own error codes (BLOB_UNKNOWN, DIGEST_INVALID, ...), never request bodies.
  let codes = '';
  try {
    const body = (await res.json()) as { errors?: Array<{ code?: string }> };
    codes = (body.errors ?? []).map((e) => e.code).filter(Boolean).join(', ');
  } catch {
    // not JSON
  }
  return new RegistryError(`${what} failed: ${res.status}${codes ? ` (${codes})` : ''}`, res.status);
}
