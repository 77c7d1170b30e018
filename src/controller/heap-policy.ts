// The V8 heap the controller runs with when nobody chose one.
//
// V8 sizes its heap from the memory Node tells it the machine has: the cgroup limit when there
// is one, the host's RAM otherwise. On a 24 GB workstation that is a 4 GB old generation and
// 64 MB semi-spaces (a 128 MB young generation), and with a ceiling that far away V8 lets the
// old generation grow to 4x what survived the last full GC before collecting again. Measured
// with 10,000 cached ToolGrantRecords: 120-143 MB live, 660-700 MB resident, the rest being
// the young generation and garbage not yet collected. An old-generation ceiling near the live
// size makes V8 collect earlier (its growth factor shrinks toward 1.3); the young generation
// does not follow that ceiling and needs its own flag.
//
// So the controller gets a budget: the cgroup memory limit when there is one, else 1 GiB, a
// modest share of a workstation and room for several times the objects above. Half of it is
// the old generation (about what Node picks by itself under a cgroup limit), the other half is
// for what is not V8 heap (the node binary's pages, code, buffers, sockets). Semi-spaces are
// 1/128 of it, at most 8 MB: the young generation counts twice, as itself and as room V8 adds
// to the old generation's limit; 16 MB semi-spaces cost 15-25 MB more RSS at 10,000 cached
// grants for no measurable speed there, and the gateway benchmark (which allocates per call)
// varied more between runs of the same flags (55-76 % of a bare proxy) than between 8 and 16 MB.
// Anyone who sizes the heap themselves (NODE_OPTIONS or node flags) is left alone.
const MiB = 1024 * 1024;
const DEFAULT_BUDGET = 1024 * MiB;

/** Flags by which someone already chose the heap size (underscore spellings included). */
const SIZING_FLAG = /(^|\s)--(max[-_]old[-_]space[-_]size|max[-_]semi[-_]space[-_]size|max[-_]heap[-_]size|max[-_]young[-_]generation[-_]size)(=|\s|$)/;

export interface HeapPolicyInput {
  /** NODE_OPTIONS of the environment. */
  nodeOptions: string | undefined;
  /** process.execArgv: node flags on the command line. */
  execArgv: readonly string[];
  /** process.constrainedMemory(): the cgroup limit; 0 or a huge number when there is none. */
  constrainedMemory: number;
  /** os.totalmem(). */
  totalMemory: number;
}

/** The node flags to add, or none when the heap is already sized. */
export function heapFlags(input: HeapPolicyInput): string[] {
  if (SIZING_FLAG.test(input.nodeOptions ?? '') || SIZING_FLAG.test(input.execArgv.join(' '))) return [];
  const limited = input.constrainedMemory > 0 && input.constrainedMemory < input.totalMemory;
  const budget = limited ? input.constrainedMemory : Math.min(DEFAULT_BUDGET, input.totalMemory);
  const oldSpaceMiB = Math.max(64, Math.floor(budget / 2 / MiB));
  const semiSpaceMiB = Math.min(8, Math.max(1, Math.floor(budget / 128 / MiB)));
  return [`--max-old-space-size=${oldSpaceMiB}`, `--max-semi-space-size=${semiSpaceMiB}`];
}

/** The commands that run the controller (and so hold the informer caches). */
export function runsController(argv: readonly string[]): boolean {
  return argv[2] === 'controller' || argv[2] === 'dev';
}
