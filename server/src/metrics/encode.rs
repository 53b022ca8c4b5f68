//! Shorthands for encoding figures through `prometheus-client`'s descriptor encoder: one metric
//! family each, with its help text, type and samples.

use std::fmt;

use prometheus_client::encoding::{
    DescriptorEncoder, EncodeCounterValue, EncodeGaugeValue, EncodeLabelSet, NoLabelSet,
};
use prometheus_client::metrics::MetricType;
use tally_raft::stats::HistogramSnapshot;

/// A gauge without labels.
pub(super) fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: impl EncodeGaugeValue,
) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Gauge)?
        .encode_gauge(&v)
}

/// A gauge with one sample per label set.
pub(super) fn gauges<L: EncodeLabelSet, V: EncodeGaugeValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(L, V)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for (labels, v) in series {
        m.encode_family(labels)?.encode_gauge(v)?;
    }
    Ok(())
}

/// A counter without labels; `name` without `_total`, which the encoder appends.
pub(super) fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    v: impl EncodeCounterValue,
) -> fmt::Result {
    enc.encode_descriptor(name, help, None, MetricType::Counter)?
        .encode_counter::<NoLabelSet, _, u64>(&v, None)
}

/// A counter with one sample per label set; `name` without `_total`.
pub(super) fn counters<L: EncodeLabelSet, V: EncodeCounterValue>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(L, V)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Counter)?;
    for (labels, v) in series {
        m.encode_family(labels)?
            .encode_counter::<NoLabelSet, _, u64>(v, None)?;
    }
    Ok(())
}

/// A histogram with one set of buckets per label set. The snapshots' bounds and sums are
/// multiplied by `scale` (1e-9 turns nanoseconds into seconds).
pub(super) fn histograms<L: EncodeLabelSet>(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    scale: f64,
    series: &[(L, HistogramSnapshot)],
) -> fmt::Result {
    let mut m = enc.encode_descriptor(name, help, None, MetricType::Histogram)?;
    for (labels, h) in series {
        // The encoder takes per-bucket counts and adds them up again.
        let mut below = 0;
        let buckets: Vec<(f64, u64)> = h
            .buckets
            .iter()
            .map(|(bound, cumulative)| {
                let n = cumulative - below;
                below = *cumulative;
                (*bound as f64 * scale, n)
            })
            .collect();
        m.encode_family(labels)?.encode_histogram::<NoLabelSet>(
            h.sum as f64 * scale,
            h.count,
            &buckets,
            None,
        )?;
    }
    Ok(())
}
