/**
 * A Prometheus histogram whose observations cost a bucket search and three additions: its buckets,
 * sum and count are plain numbers, and prom-client's registry reads them only when it is scraped
 * (through `get()`, the interface of prom-client's own metrics). prom-client's `Histogram.observe`
 * allocates a closure and two label objects and hashes the labels on every observation, which the
 * hot path (two observations per log append, one per request and attempt) does not need to pay.
 * At most one label, whose values are few (log servers).
 */

import type { Metric, Registry } from "prom-client";

/** One sample as prom-client's registry formats it. */
interface Sample {
  readonly metricName: string;
  readonly labels: Record<string, string>;
  readonly value: number;
}

interface Series {
  /** Observations per bucket, not cumulative; the last one is +Inf's. */
  readonly counts: Float64Array;
  sum: number;
  count: number;
}

export class BucketHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly upperBounds: Float64Array;
  /** The series without a label, or of each value of the label. */
  private readonly unlabeled: Series | undefined;
  private readonly byLabel = new Map<string, Series>();

  constructor(
    readonly name: string,
    readonly help: string,
    upperBounds: readonly number[],
    registry: Registry,
    private readonly labelName?: string,
  ) {
    this.upperBounds = Float64Array.from(upperBounds);
    this.unlabeled = labelName === undefined ? this.newSeries() : undefined;
    // The registry takes any object with prom-client's metric interface (name, help, type, get).
    registry.registerMetric(this as unknown as Metric);
  }

  /** Observes a value of the histogram without a label. */
  observe(value: number): void {
    add(this.unlabeled!, this.upperBounds, value);
  }

  /** Observes a value of the series whose label has `labelValue`. */
  observeLabeled(labelValue: string, value: number): void {
    let series = this.byLabel.get(labelValue);
    if (series === undefined) {
      series = this.newSeries();
      this.byLabel.set(labelValue, series);
    }
    add(series, this.upperBounds, value);
  }

  reset(): void {
    this.byLabel.clear();
    if (this.unlabeled !== undefined) {
      this.unlabeled.counts.fill(0);
      this.unlabeled.sum = 0;
      this.unlabeled.count = 0;
    }
  }

  /** What prom-client's registry formats: cumulative buckets by `le`, then the sum and the count. */
  get(): {
    name: string;
    help: string;
    type: "histogram";
    aggregator: "sum";
    values: Sample[];
  } {
    const values: Sample[] = [];
    const emit = (series: Series, labels: Record<string, string>): void => {
      let cumulative = 0;
      for (let i = 0; i <= this.upperBounds.length; i++) {
        cumulative += series.counts[i]!;
        const le = i < this.upperBounds.length ? String(this.upperBounds[i]) : "+Inf";
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { le, ...labels },
          value: cumulative,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: series.sum });
      values.push({ metricName: `${this.name}_count`, labels, value: series.count });
    };
    if (this.unlabeled !== undefined) emit(this.unlabeled, {});
    for (const [labelValue, series] of this.byLabel)
      emit(series, { [this.labelName!]: labelValue });
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }

  private newSeries(): Series {
    return { counts: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
  }
}

function add(series: Series, upperBounds: Float64Array, value: number): void {
  let bucket = 0;
  while (bucket < upperBounds.length && value > upperBounds[bucket]!) bucket++;
  series.counts[bucket]!++;
  series.sum += value;
  series.count++;
}
