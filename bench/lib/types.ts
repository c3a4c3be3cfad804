// The shape every benchmark case reports in. bench/run.ts collects these into
// bench/results/results.json, results.md and chart.png.

/** One measured figure, always next to the baseline measured in the same run. */
export interface Figure {
  /** What was measured, e.g. "map page, persisted query". */
  name: string;
  value: number;
  /** "req/s", "ms", "statements", "KB", … */
  unit: string;
  /** The baseline figure from the same run, in the same unit, when there is one. */
  baseline?: { name: string; value: number };
  /** value / baseline.value (or whichever way the case defines and says in `ratioMeaning`). */
  ratio?: number;
  ratioMeaning?: string;
  /** The target, in words ("≥ 50% of baseline", "p99 < 50 ms"). */
  target?: string;
  /** Whether the target was met; absent when the figure has no target. */
  met?: boolean;
  /**
   * Optional: the target in machine-readable form, so the chart can draw it next to the ratio.
   * `on: 'ratio'` compares `ratio`, `on: 'value'` compares `value` (drawn at threshold / baseline).
   */
  goal?: { on: 'ratio' | 'value'; op: '>=' | '<='; threshold: number };
}

export interface CaseResult {
  /** Matches the table: "1" … "6". */
  id: string;
  title: string;
  figures: Figure[];
  /**
   * Free text: where the time goes, EXPLAIN output, why a target was missed. A note with line
   * breaks is shown as its first line followed by the rest in a code block.
   */
  notes: string[];
  seconds: number;
}

/** What bench/run.ts hands each case. */
export interface BenchEnv {
  /** An admin connection string to PostgreSQL; cases create (and drop) their own databases. */
  databaseUrl: string;
  redisUrl: string;
  /** Scales durations for quick development runs (BENCH_QUICK=1 → shorter). */
  quick: boolean;
  log: (message: string) => void;
}

export type BenchCase = (env: BenchEnv) => Promise<CaseResult>;
