// An output's tar archive, made the same whichever engine read it: entries relative to the
// declared path (report.txt, sub/n.txt), the root entry dropped. Docker's archive API names
// entries after the path's last component (out/report.txt), podman's after the volume root
// (/report.txt); users untar an output where they want it, so neither prefix belongs in it.
import { pack as tarPack, extract as tarExtract, type Header } from 'tar-stream';

export async function relativeToOutput(tar: Buffer, outputPath: string): Promise<Buffer> {
  const base = outputPath.replace(/\/+$/, '').split('/').pop() ?? '';
  const out = tarPack();
  const chunks: Buffer[] = [];
  out.on('data', (c) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    out.on('end', resolve);
    out.on('error', reject);
  });
  const ex = tarExtract();
  const extracted = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header: Header, stream, next) => {
      const name = strip(header.name, base);
      const body: Buffer[] = [];
      stream.on('data', (c) => body.push(c as Buffer));
      stream.on('end', () => {
        if (name === '') return next();
        out.entry({ ...header, name }, Buffer.concat(body), (err) => next(err ?? undefined));
      });
      stream.on('error', reject);
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  ex.end(tar);
  await extracted;
  out.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** The entry's name below the output root ('' for the root itself). */
export function strip(name: string, base: string): string {
  let n = name.replace(/^\.?\/+/, '');
  if (base && (n === base || n === `${base}/`)) return '';
  if (base && n.startsWith(`${base}/`) && !name.startsWith('/')) n = n.slice(base.length + 1);
  return n.replace(/\/+$/, '');
}
