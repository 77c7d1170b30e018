// Where `agent-machine logs` reads a container's output: the runtime the controller runs it on,
// reached by the caller (the Engine API socket; the Pod logs API with the caller's credentials).
// The text handed on is sanitised (log-text.ts) but not redacted: the caller redacts.

export interface LogSource {
  readonly kind: 'docker' | 'kubernetes';
  /**
   * Streams the output of the record's container to onText from its start (following it while
   * it runs when follow is set). 'absent' when the runtime has no container for the record
   * (not created yet — or, when following, not started yet — or removed after it finished); 'cut' when a followed stream ended before
   * its last output and the container was gone before the rest could be read.
   */
  stream(record: { uid: string; namespace: string }, follow: boolean, onText: (text: string) => void, signal: AbortSignal): Promise<'complete' | 'absent' | 'cut'>;
}
