/**
 * Folds a stream of attempts (one TCP connection, or one UDP request/reply, each succeeding or failing
 * at a wall-clock time) into what the chaos report shows: how many were tried and failed, why they failed,
 * the outages (from the last success before a failure to the first success after it), and from those the
 * longest interruption and the time to recover after a fault.
 *
 * Kept streaming and bounded (a few counters and at most {@link MAX_KEPT_FAILURES} failure records), so
 * that a traffic child can run tens of thousands of attempts per phase without growing.
 *
 * @module
 */

/** How many individual failures (time and reason) a tracker keeps; the counts are always complete. */
export const MAX_KEPT_FAILURES = 200;

/** One failed attempt. */
export interface FailureRecord {
  /** `Date.now()` when the attempt gave up. */
  readonly at: number;
  readonly reason: string;
}

/**
 * One interruption of service: from the last success before a run of failures to the first success after
 * it (`to` undefined: still failing when the traffic stopped).
 */
export interface Outage {
  readonly from: number;
  readonly to: number | undefined;
  readonly failed: number;
}

/** What a tracker saw, as plain JSON. */
export interface AttemptSummary {
  readonly tried: number;
  readonly failed: number;
  /** Failures by reason (an errno code such as `ECONNREFUSED`, or `TIMEOUT`, or `BAD_REPLY`). */
  readonly reasons: Readonly<Record<string, number>>;
  readonly firstAt: number | undefined;
  readonly lastAt: number | undefined;
  readonly firstSuccessAt: number | undefined;
  /** The longest time between two successive successes, failures or not in between (ms). */
  readonly longestGapMs: number;
  readonly outages: readonly Outage[];
  /** The first {@link MAX_KEPT_FAILURES} failures. */
  readonly failures: readonly FailureRecord[];
  /** Each backend that answered: how often, and when last (so a run can show a change took effect). */
  readonly backends: Readonly<Record<string, { readonly count: number; readonly lastAt: number }>>;
}

/** Maps an error of a socket attempt to a short, stable reason. */
export function failureReason(error: unknown): string {
  if (typeof error === 'object' && error !== null) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && code !== '') return code;
    const message = (error as { message?: unknown }).message;
    if (typeof message === 'string' && message !== '') return message.slice(0, 60);
  }
  return String(error).slice(0, 60);
}

/**
 * Counts attempts as they happen.
 *
 * @example
 * const t = new AttemptTracker();
 * t.success(1000); t.failure(1001, 'ECONNREFUSED'); t.success(1500);
 * t.summary().outages // [{ from: 1000, to: 1500, failed: 1 }]
 */
export class AttemptTracker {
  #tried = 0;
  #failed = 0;
  readonly #reasons: Record<string, number> = {};
  #firstAt: number | undefined;
  #lastAt: number | undefined;
  #firstSuccessAt: number | undefined;
  #lastSuccessAt: number | undefined;
  #longestGapMs = 0;
  readonly #outages: Outage[] = [];
  /** The outage in progress: its start and failures so far. */
  #open: { from: number; failed: number } | undefined;
  readonly #failures: FailureRecord[] = [];
  readonly #backends: Record<string, { count: number; lastAt: number }> = {};

  /** Attempts so far. */
  get tried(): number {
    return this.#tried;
  }

  /**
   * Records a successful attempt.
   *
   * @param at when it succeeded (`Date.now()`)
   * @param backend who answered, if known
   */
  success(at: number, backend?: string): void {
    this.#count(at);
    if (backend !== undefined) {
      const b = this.#backends[backend];
      this.#backends[backend] = { count: (b?.count ?? 0) + 1, lastAt: at };
    }
    if (this.#lastSuccessAt !== undefined) {
      this.#longestGapMs = Math.max(this.#longestGapMs, at - this.#lastSuccessAt);
    }
    if (this.#open !== undefined) {
      this.#outages.push({ from: this.#open.from, to: at, failed: this.#open.failed });
      this.#open = undefined;
    }
    this.#firstSuccessAt ??= at;
    this.#lastSuccessAt = at;
  }

  /**
   * Records a failed attempt.
   *
   * @param at when it gave up (`Date.now()`)
   * @param reason why (see {@link failureReason})
   */
  failure(at: number, reason: string): void {
    this.#count(at);
    this.#failed++;
    this.#reasons[reason] = (this.#reasons[reason] ?? 0) + 1;
    if (this.#failures.length < MAX_KEPT_FAILURES) this.#failures.push({ at, reason });
    // An outage starts at the last success (or at the first attempt when nothing ever succeeded).
    this.#open ??= { from: this.#lastSuccessAt ?? this.#firstAt ?? at, failed: 0 };
    this.#open.failed++;
  }

  #count(at: number): void {
    this.#tried++;
    this.#firstAt ??= at;
    this.#lastAt = at;
  }

  /**
   * What was seen so far.
   *
   * @returns a JSON-ready summary (an outage still open has `to: undefined`)
   */
  summary(): AttemptSummary {
    const outages =
      this.#open === undefined
        ? [...this.#outages]
        : [...this.#outages, { from: this.#open.from, to: undefined, failed: this.#open.failed }];
    return {
      tried: this.#tried,
      failed: this.#failed,
      reasons: { ...this.#reasons },
      firstAt: this.#firstAt,
      lastAt: this.#lastAt,
      firstSuccessAt: this.#firstSuccessAt,
      longestGapMs: this.#longestGapMs,
      outages,
      failures: [...this.#failures],
      backends: Object.fromEntries(Object.entries(this.#backends).map(([k, v]) => [k, { ...v }])),
    };
  }
}

/** The report's figures for one kind of traffic in one fault × mode run. */
export interface TrafficFigures {
  readonly tried: number;
  readonly failed: number;
  /** Failures before the fault was injected (the lab was not steady: the run says little). */
  readonly failedBeforeFault: number;
  /** The longest outage (ms); 0 when nothing failed. */
  readonly longestInterruptionMs: number;
  /**
   * From the fault's start to the end of the last outage that ended after it (ms): 0 when nothing failed
   * after the fault, null when the service was still failing when the traffic stopped.
   */
  readonly recoverMs: number | null;
  /**
   * Failures after the service first came back from the fault: those of every outage that began after the
   * first outage following the fault had ended (the "0 failures once back").
   */
  readonly failedAfterBack: number;
  /** Outages after the fault. */
  readonly outagesAfterFault: number;
  readonly reasons: Readonly<Record<string, number>>;
}

/**
 * The report's figures from a traffic summary and the time the fault began.
 *
 * @param summary what the traffic child saw
 * @param faultAt `Date.now()` when the fault was injected
 * @returns tried, failed, longest interruption, time to recover, reasons
 * @example figures(tracker.summary(), faultAt).recoverMs
 */
export function figures(summary: AttemptSummary, faultAt: number): TrafficFigures {
  const stillFailing = summary.outages.some((o) => o.to === undefined);
  const end = summary.lastAt ?? faultAt;
  let longest = 0;
  let lastEnd: number | undefined;
  for (const o of summary.outages) {
    longest = Math.max(longest, (o.to ?? end) - o.from);
    if (o.to !== undefined && o.to > faultAt) lastEnd = Math.max(lastEnd ?? 0, o.to);
  }
  const failedBeforeFault = summary.failures.filter((f) => f.at < faultAt).length;
  // An outage belongs to the fault when it was still going on at the fault or began after it.
  const afterFault = summary.outages.filter((o) => o.to === undefined || o.to > faultAt);
  const firstBack = afterFault[0]?.to;
  const failedAfterBack =
    firstBack === undefined ? 0 : afterFault.slice(1).reduce((sum, o) => sum + o.failed, 0);
  return {
    tried: summary.tried,
    failed: summary.failed,
    failedBeforeFault,
    longestInterruptionMs: longest,
    recoverMs: stillFailing ? null : lastEnd === undefined ? 0 : lastEnd - faultAt,
    failedAfterBack,
    outagesAfterFault: afterFault.length,
    reasons: summary.reasons,
  };
}
