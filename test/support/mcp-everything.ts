// The real MCP server the connector tests talk to: @modelcontextprotocol/server-everything
// (a devDependency) in its Streamable HTTP mode, on a free loopback port, as a child process.
// It serves /mcp: POST JSON-RPC (answers as JSON or SSE), GET (the server's SSE stream), DELETE.
import { spawn, type ChildProcess } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { freePorts } from '../../src/dev/free-ports.ts';

export interface McpEverything {
  /** http://127.0.0.1:PORT/mcp */
  url: string;
  /** Everything the server printed (it logs each request it gets). */
  output: string[];
  close(): Promise<void>;
}

export async function startMcpEverything(): Promise<McpEverything> {
  const require = createRequire(import.meta.url);
  const pkg = path.dirname(require.resolve('@modelcontextprotocol/server-everything/package.json'));
  for (let attempt = 0; ; attempt++) {
    const [port] = await freePorts(1);
    const child: ChildProcess = spawn(process.execPath, [path.join(pkg, 'dist/index.js'), 'streamableHttp'], { env: { ...process.env, PORT: String(port) }, stdio: ['ignore', 'pipe', 'pipe'] });
    const output: string[] = [];
    const listening = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      const read = (b: Buffer) => {
        const text = b.toString();
        output.push(text);
        if (text.includes('listening on port')) {
          clearTimeout(timer);
          resolve(true);
        }
        if (text.includes('EADDRINUSE') || text.includes('already in use')) {
          clearTimeout(timer);
          resolve(false);
        }
      };
      child.stdout!.on('data', read);
      child.stderr!.on('data', read);
      child.once('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    if (listening) {
      return {
        url: `http://127.0.0.1:${port}/mcp`,
        output,
        close: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      };
    }
    child.kill('SIGKILL');
    if (attempt >= 2) throw new Error(`server-everything did not start: ${output.join('').slice(-2000)}`);
  }
}
