/**
 * The errors pstore-sim reports to its users: each says what is wrong in words a user acts on.
 * The CLI prints their message (no stack) and exits with their code: 1 for a user's mistake,
 * 2 for an environment problem (no /dev/fuse, no fusermount3 for an ordinary user, an addon that does not load).
 * The one mapping of any error to its line and code is `failureReport` (daemon/advice.ts).
 */
export const ExitCode = { ok: 0, user: 1, environment: 2 } as const

/**
 * What an error is about, as data, so that each front end names the fix its own way: the
 * message speaks the JS API's language, the CLI (daemon/advice.ts) rebuilds the line with its
 * flags from these facts.
 */
export interface ErrorFacts<P extends string = string> {
  /** Which problem it is: the key of a front end's table of words. */
  problem: P
  /** The setting at fault or missing, in the JS API's spelling: formatImage's and mount's option paths (`force`, `params.mem_size`, `target.kernel`, `cmdline`, `spec.maxPerBlock`…). */
  param: string
  /** The file it is about (the image, its sidecar). */
  subject?: string
  /** The value given for the setting, when one was. */
  value?: string | number
  /** What the layer below said (the kernel's or QEMU's refusal, an errno, the reason a probe failed). */
  detail?: string
}

export class PstoreSimError extends Error {
  readonly exitCode: number = ExitCode.user
  override name = 'PstoreSimError'
  constructor(
    message: string,
    readonly facts?: ErrorFacts,
    options?: ErrorOptions,
  ) {
    super(message, options)
  }
}

export class EnvironmentError extends PstoreSimError {
  override readonly exitCode: number = ExitCode.environment
  override name = 'EnvironmentError'
}

/** An error as it crosses a process boundary (the daemon's start-up IPC, its control socket). */
export interface WireError {
  error: string
  exitCode: number
  /** Set for our own errors that carry facts: the receiver phrases them (advice.ts keys on the name). */
  name?: string
  facts?: ErrorFacts
  /**
   * The class of one of our errors (its name), sent for every PstoreSimError with or without
   * facts: the JS API rebuilds that class (daemon/errorClasses.ts) so `instanceof` holds for its
   * users. Apart from `name`, which the CLI keys its phrasing on and gets only with facts.
   */
  kind?: string
}

/** Where a rebuilt error keeps the class its sender named (WireError.kind), until the JS API maps it. */
export const WIRE_KIND: unique symbol = Symbol('pstore-sim wire kind')

/** An error another process reported (a daemon, over IPC or its socket), with its name and facts when it sent them. */
export function errorWithExitCode(message: string, exitCode: number, name?: string, facts?: ErrorFacts, kind?: string): PstoreSimError {
  const err = exitCode === ExitCode.environment ? new EnvironmentError(message, facts) : new PstoreSimError(message, facts)
  if (name !== undefined) err.name = name
  // A symbol, not a field: the CLI's checks and messages see the error exactly as before.
  if (kind !== undefined) Object.defineProperty(err, WIRE_KIND, { value: kind })
  return err
}
