// Ports the controller will listen on, checked before anything is started: a second `make run`
// (or anything else on 8080) should fail in a second with one line, not after etcd,
// kube-apiserver and podman were started, with a Node stack trace.
import net from 'node:net';

export interface PortClaim {
  /** What the address is for, as the flag that sets it. */
  flag: string;
  host: string;
  port: number;
}

/** The claims that are taken (port 0 is never taken); each with the error code seen. */
export async function takenPorts(claims: readonly PortClaim[]): Promise<Array<PortClaim & { code: string }>> {
  const taken: Array<PortClaim & { code: string }> = [];
  for (const claim of claims) {
    if (claim.port === 0) continue;
    const code = await new Promise<string | undefined>((resolve) => {
      const server = net.createServer();
      server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'ERROR'));
      server.listen({ host: claim.host, port: claim.port, exclusive: true }, () => server.close(() => resolve(undefined)));
    });
    if (code) taken.push({ ...claim, code });
  }
  return taken;
}

/** One line per taken port, saying what to do. */
export function describeTaken(taken: ReadonlyArray<PortClaim & { code: string }>): string {
  return taken
    .map((t) =>
      t.code === 'EADDRINUSE'
        ? `${t.host}:${t.port} (${t.flag}) is already in use — another make run? Stop it, or pick another port: make run ARGS='${t.flag} 127.0.0.1:0'`
        : `${t.host}:${t.port} (${t.flag}) cannot be listened on (${t.code})`,
    )
    .join('\n');
}
