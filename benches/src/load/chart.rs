//! The charts `tally benchmark --out` writes beside `benchmark.json`: throughput over the load
//! (averaged per second) and latency by percentile, drawn with plotters into `benchmark.svg` and
//! `benchmark.png`, the same layout in both.
//!
//! Text is drawn in DejaVu Sans, embedded from `benches/assets/` (license beside it) and
//! rasterized in Rust (plotters' `ab_glyph` path), so writing a PNG needs no system font library.
//! The SVG names the same font first in its font stack, so both measure text alike: labels are
//! placed to fit with the embedded font's metrics.
//!
//! Axes run over round numbers: ticks are multiples of 1, 2 or 5 times a power of ten
//! ([`nice_ticks`]), and every axis ends on a tick at or beyond its data.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{anyhow, ensure, Context, Result};
use hdrhistogram::Histogram;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::Shift;
use plotters::element::DashedPathElement;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

/// The font every label is drawn in.
static FONT: &[u8] = include_bytes!("../../assets/DejaVuSans.ttf");

/// The font's family name: the embedded font is registered under it, and the SVG names it as its
/// font stack (DejaVu Sans where installed, else a narrower sans-serif, so text still fits).
const FAMILY: &str = "DejaVu Sans, Arial, sans-serif";

/// Width and height of both images, pixels.
pub const SIZE: (u32, u32) = (1200, 540);

/// Height of the header (two lines of text above the panels), pixels.
const HEADER: u32 = 76;
/// Space around the panels, pixels: the image's edge stays clear.
const EDGE: u32 = 16;

const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const MUTED: RGBColor = RGBColor(0x55, 0x55, 0x55);
const AXIS: RGBColor = RGBColor(0x88, 0x88, 0x88);
const GRID: RGBColor = RGBColor(0xe4, 0xe4, 0xe4);
const LINE: RGBColor = RGBColor(0x1f, 0x6f, 0xb4);
const MEAN: RGBColor = RGBColor(0xd0, 0x6a, 0x10);

/// A linear axis from its first tick to its last, with grid lines and labels at exactly its
/// ticks (at least two, increasing).
#[derive(Debug, Clone)]
struct Ticks(Vec<f64>);

impl Ranged for Ticks {
    type ValueType = f64;
    // Labels come from the panel's formatters.
    type FormatOption = DefaultFormatting;

    fn map(&self, v: &f64, pixels: (i32, i32)) -> i32 {
        let r = self.range();
        let share = (v - r.start) / (r.end - r.start);
        pixels.0 + (f64::from(pixels.1 - pixels.0) * share).round() as i32
    }

    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.0.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.0[0]..self.0[self.0.len() - 1]
    }
}

/// A panel's chart.
type Panel<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticks, Ticks>>;

/// What the charts show of one run.
#[derive(Debug)]
pub struct Run<'a> {
    /// The run's setup (cluster, accounts, batching, clients): the header's first line.
    pub setup: String,
    /// Transfers answered per 100 ms since the load started.
    pub timeline: &'a [u64],
    /// Wall time of the load, seconds.
    pub secs: f64,
    /// Transfers answered.
    pub transfers: u64,
    /// Request latency, µs.
    pub latency_us: &'a Histogram<u64>,
    /// What one latency sample is: "batch" or "transfer".
    pub latency_of: &'static str,
}

/// Writes `benchmark.svg` and `benchmark.png` into `dir`.
pub fn write(dir: &Path, run: &Run<'_>) -> Result<()> {
    let svg_path = dir.join("benchmark.svg");
    std::fs::write(&svg_path, svg(run)?)
        .with_context(|| format!("write {}", svg_path.display()))?;
    let png_path = dir.join("benchmark.png");
    std::fs::write(&png_path, png(run)?).with_context(|| format!("write {}", png_path.display()))
}

/// The charts as an SVG document.
pub fn svg(run: &Run<'_>) -> Result<String> {
    register_font()?;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        draw(&root, run)?;
        root.present().map_err(drawing)?;
    }
    Ok(out)
}

/// The charts as a PNG image (8-bit RGB).
pub fn png(run: &Run<'_>) -> Result<Vec<u8>> {
    register_font()?;
    let (w, h) = SIZE;
    let mut rgb = vec![0u8; w as usize * h as usize * 3];
    {
        let root = BitMapBackend::with_buffer(&mut rgb, SIZE).into_drawing_area();
        draw(&root, run)?;
        root.present().map_err(drawing)?;
    }
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, w, h);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().context("encode PNG")?;
    writer.write_image_data(&rgb).context("encode PNG")?;
    writer.finish().context("encode PNG")?;
    Ok(out)
}

/// Registers the embedded font with plotters (once per process).
fn register_font() -> Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED
        .get_or_init(|| plotters::style::register_font(FAMILY, FontStyle::Normal, FONT).is_ok());
    ensure!(ok, "the embedded chart font does not parse");
    Ok(())
}

fn drawing(e: impl std::fmt::Display) -> anyhow::Error {
    anyhow!("draw chart: {e}")
}

fn text(size: f64, color: &'static RGBColor) -> TextStyle<'static> {
    (FAMILY, size).into_font().color(color)
}

/// Draws the header and both panels on `root`.
fn draw<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, run: &Run<'_>) -> Result<()> {
    root.fill(&WHITE).map_err(drawing)?;
    let inner = root.margin(EDGE, EDGE, EDGE, EDGE);
    let width = SIZE.0 - 2 * EDGE;
    let h = run.latency_us;
    let mean = mean_rate(run.transfers, run.secs);
    let summary = format!(
        "{} transfers in {:.2} s, {} transfers/s on average; {} latency p50 {} ms, p99 {} ms, \
         max {} ms",
        thousands(run.transfers),
        run.secs,
        thousands(mean.round() as u64),
        run.latency_of,
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
    );
    let top = Pos::new(HPos::Left, VPos::Top);
    let headline = format!("tally benchmark: {}", run.setup);
    let title = fitted(&inner, &headline, 21.0, width, &INK)?;
    inner
        .draw_text(&headline, &title.pos(top), (0, 0))
        .map_err(drawing)?;
    let sub = fitted(&inner, &summary, 16.0, width, &MUTED)?;
    inner
        .draw_text(&summary, &sub.pos(top), (0, 32))
        .map_err(drawing)?;
    let body = inner.margin(HEADER - EDGE, 0, 0, 0);
    let (left, right) = body.split_horizontally(width / 2);
    throughput(&left.margin(0, 0, 0, 12), run, mean)?;
    latency(&right.margin(0, 0, 12, 0), run)?;
    Ok(())
}

/// `style` at `size`, shrunk until `s` fits in `width` pixels.
fn fitted<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    s: &str,
    mut size: f64,
    width: u32,
    color: &'static RGBColor,
) -> Result<TextStyle<'static>> {
    loop {
        let style = text(size, color);
        let (w, _) = area.estimate_text_size(s, &style).map_err(drawing)?;
        if w <= width || size <= 8.0 {
            return Ok(style);
        }
        size -= 1.0;
    }
}

/// Transfers per second over the whole load.
fn mean_rate(transfers: u64, secs: f64) -> f64 {
    if secs > 0.0 {
        transfers as f64 / secs
    } else {
        0.0
    }
}

/// Builds a panel's chart: its caption, axes from `x_ticks` and `y_ticks` (the first and last
/// of each are the axis' ends), grid lines at the ticks, and the axis titles.
#[allow(clippy::too_many_arguments)]
fn panel<'a, DB: DrawingBackend + 'a>(
    area: &'a DrawingArea<DB, Shift>,
    caption: &str,
    x_ticks: Vec<f64>,
    y_ticks: Vec<f64>,
    x_desc: &str,
    y_desc: &str,
    x_label: &dyn Fn(&f64) -> String,
    y_label: &dyn Fn(&f64) -> String,
) -> Result<Panel<'a, DB>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, text(18.0, &INK))
        .margin_top(8)
        .margin_right(40)
        .x_label_area_size(54)
        .y_label_area_size(78)
        .build_cartesian_2d(Ticks(x_ticks), Ticks(y_ticks))
        .map_err(drawing)?;
    chart
        .configure_mesh()
        .bold_line_style(GRID)
        .axis_style(AXIS)
        .label_style(text(14.0, &MUTED))
        .axis_desc_style(text(15.0, &INK))
        .x_desc(x_desc)
        .y_desc(y_desc)
        .x_label_formatter(x_label)
        .y_label_formatter(y_label)
        .draw()
        .map_err(drawing)?;
    Ok(chart)
}

/// The throughput panel: transfers answered per second, and the mean over the load.
fn throughput<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    run: &Run<'_>,
    mean: f64,
) -> Result<()> {
    let points = per_second(run.timeline, run.secs);
    let peak = points.iter().map(|p| p.1).fold(mean, f64::max);
    let x_ticks = nice_ticks(run.secs, 10);
    // Headroom above the peak keeps the legend clear of the line.
    let y_ticks = nice_ticks(peak * 1.25, 6);
    let (x_step, y_step) = (x_ticks[1], y_ticks[1]);
    let y_top = y_ticks[y_ticks.len() - 1];
    let x_end = x_ticks[x_ticks.len() - 1];
    let mut chart = panel(
        area,
        "Throughput, averaged per second",
        x_ticks,
        y_ticks,
        "time since the load started (s)",
        "transfers per second",
        &|v: &f64| decimal(*v, x_step),
        &|v: &f64| si(*v, y_step, y_top),
    )?;
    chart
        .draw_series(points.iter().map(|p| Circle::new(*p, 4, LINE.filled())))
        .map_err(drawing)?;
    chart
        .draw_series(LineSeries::new(points, LINE.stroke_width(2)))
        .map_err(drawing)?
        .label("each second")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 24, y)], LINE.stroke_width(2)));
    chart
        .draw_series(DashedLineSeries::new(
            [(0.0, mean), (x_end, mean)],
            8,
            5,
            MEAN.stroke_width(2),
        ))
        .map_err(drawing)?
        .label(format!(
            "mean over the load, {} transfers/s",
            thousands(mean.round() as u64)
        ))
        .legend(|(x, y)| DashedPathElement::new([(x, y), (x + 24, y)], 8, 5, MEAN.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .margin(8)
        .label_font(text(14.0, &INK))
        .background_style(WHITE)
        .border_style(GRID)
        .draw()
        .map_err(drawing)?;
    Ok(())
}

/// The latency panel: latency at each percentile, the percentile axis in "nines" (p90, p99,
/// p99.9, ... equally spaced), marked and labelled at its ticks.
fn latency<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, run: &Run<'_>) -> Result<()> {
    let h = run.latency_us;
    let nines_max = percentile_reach(h.len());
    let at = |nines: f64| h.value_at_quantile(1.0 - 10f64.powf(-nines)) as f64 / 1000.0;
    let steps = 200;
    let curve: Vec<(f64, f64)> = (0..=steps)
        .map(|i| {
            let x = nines_max * i as f64 / steps as f64;
            (x, at(x))
        })
        .collect();
    let highest = curve.iter().map(|p| p.1).fold(0.0, f64::max);
    let mut x_ticks = vec![0.0, 2f64.log10()];
    x_ticks.extend((1..=nines_max as u32).map(f64::from));
    let marks: Vec<(f64, f64)> = x_ticks[1..].iter().map(|x| (*x, at(*x))).collect();
    let y_ticks = nice_ticks(highest * 1.15, 6);
    let y_step = y_ticks[1];
    let caption = format!("{} latency by percentile", capitalized(run.latency_of));
    let mut chart = panel(
        area,
        &caption,
        x_ticks,
        y_ticks,
        "percentile",
        "latency (ms)",
        &|v: &f64| percentile_label(*v),
        &|v: &f64| decimal(*v, y_step),
    )?;
    chart
        .draw_series(LineSeries::new(curve, LINE.stroke_width(2)))
        .map_err(drawing)?;
    let value = text(13.0, &INK).pos(Pos::new(HPos::Right, VPos::Bottom));
    chart
        .draw_series(marks.into_iter().map(|(x, y)| {
            EmptyElement::at((x, y))
                + Circle::new((0, 0), 4, LINE.filled())
                + Text::new(format!("{y:.1}"), (-6, -6), value.clone())
        }))
        .map_err(drawing)?;
    Ok(())
}

/// How far along the percentile axis a histogram of `count` samples reaches, in nines: 2 (p99)
/// at least, 5 (p99.999) at most, otherwise as far as a sample lies beyond.
fn percentile_reach(count: u64) -> f64 {
    (count.max(1) as f64).log10().ceil().clamp(2.0, 5.0)
}

/// "p0", "p50", "p90", "p99.9": the percentile at `nines` (the quantile is 1 - 10^-nines).
fn percentile_label(nines: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    let s = format!("{p:.4}");
    format!("p{}", s.trim_end_matches('0').trim_end_matches('.'))
}

/// Transfers answered per second of the load, from the per-100 ms `timeline` and the load's wall
/// time `secs`: one `(middle of the interval, transfers/s)` per whole second; the last partial
/// second stands on its own when it lasts at least half a second, and otherwise is averaged in
/// with the second before it (a sliver of a second holds too few batches to average).
pub fn per_second(timeline: &[u64], secs: f64) -> Vec<(f64, f64)> {
    if secs.is_nan() || secs <= 0.0 {
        return Vec::new();
    }
    let whole = secs.floor() as usize;
    let mut bounds: Vec<f64> = (0..=whole).map(|s| s as f64).collect();
    if secs - whole as f64 >= 0.5 || whole == 0 {
        bounds.push(secs);
    } else if let Some(last) = bounds.last_mut() {
        *last = secs;
    }
    let intervals = bounds.len() - 1;
    let mut counts = vec![0u64; intervals];
    for (bin, n) in timeline.iter().enumerate() {
        counts[(bin / 10).min(intervals - 1)] += n;
    }
    counts
        .iter()
        .zip(bounds.windows(2))
        .map(|(n, b)| ((b[0] + b[1]) / 2.0, *n as f64 / (b[1] - b[0])))
        .collect()
}

/// Axis ticks `0, s, 2s, ...` up to the first at or above `max`, where the step `s` is 1, 2 or 5
/// times a power of ten, the smallest such step that needs at most `most` intervals.
pub fn nice_ticks(max: f64, most: usize) -> Vec<f64> {
    let max = if max.is_finite() && max > 0.0 {
        max
    } else {
        1.0
    };
    let most = most.max(1);
    let mut exp = (max / most as f64).log10().floor() as i32;
    let mut multiple = 1u64;
    loop {
        let step = scaled(multiple, exp);
        let n = (max / step - 1e-9).ceil().max(1.0) as u64;
        if n <= most as u64 {
            return (0..=n).map(|i| scaled(i * multiple, exp)).collect();
        }
        multiple = match multiple {
            1 => 2,
            2 => 5,
            _ => {
                exp += 1;
                1
            }
        };
    }
}

/// `m * 10^exp`, rounded once (division for negative exponents keeps 0.3 as 0.3).
fn scaled(m: u64, exp: i32) -> f64 {
    if exp >= 0 {
        m as f64 * 10f64.powi(exp)
    } else {
        m as f64 / 10f64.powi(-exp)
    }
}

/// `v` with as many decimals as the axis step `step` needs.
fn decimal(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10() - 1e-9).ceil() as usize
    };
    format!("{v:.decimals$}")
}

/// `v` in k or M (as the axis' largest value `top` calls for), with the decimals `step` needs.
fn si(v: f64, step: f64, top: f64) -> String {
    if v == 0.0 {
        "0".to_string()
    } else if top >= 1e6 {
        format!("{}M", decimal(v / 1e6, step / 1e6))
    } else if top >= 1e3 {
        format!("{}k", decimal(v / 1e3, step / 1e3))
    } else {
        decimal(v, step)
    }
}

/// `n` with thousands separated by commas.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A synthetic run: 12.3 s of batches of 8,189 answered in every third 100 ms slot, and
    /// latencies of 5 ms plus an exponential tail (a straight line on the nines axis).
    fn run_fixture(timeline: &[u64], latency: &Histogram<u64>) -> Run<'static> {
        let timeline: &'static [u64] = Box::leak(timeline.to_vec().into_boxed_slice());
        let latency: &'static Histogram<u64> = Box::leak(Box::new(latency.clone()));
        Run {
            setup: "temporary 1-node cluster, 10000 accounts (uniform), 8189 transfers per \
                    request, 1 closed-loop client"
                .to_string(),
            timeline,
            secs: 12.3,
            transfers: timeline.iter().sum(),
            latency_us: latency,
            latency_of: "batch",
        }
    }

    fn batchy_timeline() -> Vec<u64> {
        (0..123)
            .map(|i| if i % 3 == 2 { 8189 } else { 0 })
            .collect()
    }

    fn exponential_latency(samples: u64) -> Histogram<u64> {
        let mut h = super::super::report::hist();
        for i in 0..samples {
            let u = (i as f64 + 0.5) / samples as f64;
            let ms = 5.0 + 20.0 * -(1.0 - u).ln();
            h.record((ms * 1000.0) as u64).unwrap();
        }
        h
    }

    #[test]
    fn per_second_averages_each_whole_second() {
        // 1,000 transfers/s throughout, in 100 ms slots.
        let even = vec![100; 25];
        assert_eq!(
            per_second(&even, 2.5),
            vec![(0.5, 1000.0), (1.5, 1000.0), (2.25, 1000.0)]
        );
        // A last sliver (0.2 s) is averaged in with the second before it.
        let p = per_second(&even[..22], 2.2);
        assert_eq!(p.len(), 2);
        assert_eq!(p[0], (0.5, 1000.0));
        assert!(
            (p[1].0 - 1.6).abs() < 1e-9 && (p[1].1 - 1000.0).abs() < 1e-9,
            "{p:?}"
        );
        // Under a second: one interval over the whole load.
        assert_eq!(per_second(&[30, 30, 30], 0.3), vec![(0.15, 300.0)]);
        assert!(per_second(&[], 0.0).is_empty());
        assert!(per_second(&[5], f64::NAN).is_empty());
    }

    #[test]
    fn per_second_smooths_batch_sized_steps() {
        // Per 100 ms this swings between 0 and 81,890 transfers/s; per second it stays within
        // one batch of the mean.
        let timeline = batchy_timeline();
        let p = per_second(&timeline, 12.3);
        assert_eq!(p.len(), 12);
        let total: f64 = timeline.iter().sum::<u64>() as f64;
        let mean = total / 12.3;
        for (x, rate) in &p {
            assert!((rate - mean).abs() <= 8189.0, "{x}: {rate} vs {mean}");
        }
        // Nothing is lost: the rates times their intervals add up to every transfer.
        let widths = [1.0; 11].into_iter().chain([1.3]);
        let sum: f64 = p.iter().zip(widths).map(|((_, r), w)| r * w).sum();
        assert!((sum - total).abs() < 1e-6, "{sum} vs {total}");
    }

    #[test]
    fn nice_ticks_are_round_and_cover_the_data() {
        assert_eq!(nice_ticks(9.3, 5), vec![0.0, 2.0, 4.0, 6.0, 8.0, 10.0]);
        assert_eq!(nice_ticks(146_312.0, 6), vec![0.0, 50e3, 100e3, 150e3]);
        assert_eq!(
            nice_ticks(0.27, 6),
            vec![0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3]
        );
        assert_eq!(nice_ticks(0.0, 4), vec![0.0, 0.5, 1.0]);
        for most in 3..=10 {
            for e in -3..=9 {
                for m in [1.0, 1.01, 1.5, 2.0, 2.3, 3.7, 4.99, 5.0, 7.2, 9.99] {
                    let max = m * 10f64.powi(e);
                    let t = nice_ticks(max, most);
                    let step = t[1];
                    let round = (-6..=12).any(|k| {
                        [1.0, 2.0, 5.0]
                            .iter()
                            .any(|n| (step - n * 10f64.powi(k)).abs() <= step * 1e-12)
                    });
                    assert!(round, "{max}: step {step}");
                    assert_eq!(t[0], 0.0);
                    for (i, v) in t.iter().enumerate() {
                        assert!((v - i as f64 * step).abs() <= step * 1e-9, "{max}: {t:?}");
                    }
                    assert!(t.len() - 1 <= most, "{max}, {most}: {t:?}");
                    assert!(*t.last().unwrap() >= max * (1.0 - 1e-12), "{max}: {t:?}");
                    assert!(t[t.len() - 2] < max, "{max}: {t:?} ends past the data");
                }
            }
        }
    }

    #[test]
    fn labels_read_as_round_numbers_and_percentiles() {
        assert_eq!(si(150e3, 50e3, 150e3), "150k");
        assert_eq!(si(1.2e6, 200e3, 1.4e6), "1.2M");
        assert_eq!(si(0.0, 50e3, 150e3), "0");
        assert_eq!(decimal(0.15, 0.05), "0.15");
        assert_eq!(decimal(40.0, 20.0), "40");
        assert_eq!(percentile_label(0.0), "p0");
        assert_eq!(percentile_label(2f64.log10()), "p50");
        assert_eq!(percentile_label(3.0), "p99.9");
        assert_eq!(percentile_label(5.0), "p99.999");
        assert_eq!(thousands(146_312), "146,312");
        assert_eq!(thousands(999), "999");
        assert_eq!(percentile_reach(37), 2.0);
        assert_eq!(percentile_reach(1_000), 3.0);
        assert_eq!(percentile_reach(10_000_000), 5.0);
    }

    /// One `<text>` element of an SVG written by plotters.
    struct SvgText {
        x: f64,
        y: f64,
        anchor: String,
        dy: String,
        size: f64,
        rotated: bool,
        content: String,
    }

    fn attr(tag: &str, name: &str) -> String {
        let key = format!(" {name}=\"");
        let at = tag.find(&key).unwrap_or_else(|| panic!("{name} in {tag}")) + key.len();
        tag[at..at + tag[at..].find('"').unwrap()].to_string()
    }

    fn svg_texts(svg: &str) -> Vec<SvgText> {
        svg.split("<text")
            .skip(1)
            .map(|rest| {
                let (tag, body) = rest.split_once('>').unwrap();
                let content = body.split("</text>").next().unwrap().trim().to_string();
                SvgText {
                    x: attr(tag, "x").parse().unwrap(),
                    y: attr(tag, "y").parse().unwrap(),
                    anchor: attr(tag, "text-anchor"),
                    dy: attr(tag, "dy"),
                    size: attr(tag, "font-size").parse().unwrap(),
                    rotated: tag.contains("transform=\"rotate("),
                    content,
                }
            })
            .collect()
    }

    /// The box a label takes, `(left, top, right, bottom)`, measured with the embedded font
    /// (plotters sizes SVG text at 1/1.24 of the style's size).
    fn extent(t: &SvgText) -> (f64, f64, f64, f64) {
        let font = FontDesc::new(FontFamily::Name(FAMILY), t.size * 1.24, FontStyle::Normal);
        let (w, _) = font.box_size(&t.content).unwrap();
        let (w, em) = (f64::from(w), t.size);
        let (before, after) = match t.anchor.as_str() {
            "start" => (0.0, w),
            "middle" => (w / 2.0, w / 2.0),
            "end" => (w, 0.0),
            other => panic!("anchor {other}"),
        };
        let (above, below) = match t.dy.as_str() {
            "0.76em" => (0.0, em),
            "0.5ex" => (em / 2.0, em / 2.0),
            "-0.5ex" => (em, 0.0),
            other => panic!("dy {other}"),
        };
        if t.rotated {
            // Rotated a quarter turn back: the text runs up the page from its anchor.
            (t.x - em, t.y - before, t.x + em, t.y + after)
        } else {
            (t.x - before, t.y - above, t.x + after, t.y + below)
        }
    }

    #[test]
    fn charts_render_into_svg_and_png_with_every_label_inside() {
        let latency = exponential_latency(200_000);
        let run = run_fixture(&batchy_timeline(), &latency);
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), &run).unwrap();

        // The PNG decodes, at the size asked for, and is a picture, not a blank.
        let png_bytes = std::fs::read(dir.path().join("benchmark.png")).unwrap();
        let decoder = png::Decoder::new(std::io::Cursor::new(&png_bytes));
        let mut reader = decoder.read_info().unwrap();
        let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
        let frame = reader.next_frame(&mut pixels).unwrap();
        assert_eq!((frame.width, frame.height), SIZE);
        assert_eq!(frame.color_type, png::ColorType::Rgb);
        let rgb: Vec<[u8; 3]> = pixels[..frame.buffer_size()]
            .chunks(3)
            .map(|c| [c[0], c[1], c[2]])
            .collect();
        let colours: std::collections::BTreeSet<[u8; 3]> = rgb.iter().copied().collect();
        assert!(colours.len() > 10, "{} colours", colours.len());
        let inked = rgb.iter().filter(|p| **p != [255, 255, 255]).count();
        assert!(
            inked > rgb.len() / 100,
            "{inked} of {} pixels drawn",
            rgb.len()
        );
        // Dark text pixels exist (labels were drawn with the embedded font).
        assert!(rgb.iter().any(|p| p.iter().all(|c| *c < 0x60)));
        // Nothing reaches the image's outermost pixels.
        let (w, h) = (SIZE.0 as usize, SIZE.1 as usize);
        for (i, p) in rgb.iter().enumerate() {
            let (x, y) = (i % w, i / w);
            if x < 3 || y < 3 || x >= w - 3 || y >= h - 3 {
                assert_eq!(*p, [255, 255, 255], "pixel at {x},{y}");
            }
        }

        // The SVG: same size, axis titles and tick labels, every label inside the picture.
        let svg = std::fs::read_to_string(dir.path().join("benchmark.svg")).unwrap();
        assert!(
            svg.contains(&format!("viewBox=\"0 0 {} {}\"", SIZE.0, SIZE.1)),
            "{}",
            &svg[..200]
        );
        let texts = svg_texts(&svg);
        let has = |s: &str| texts.iter().any(|t| t.content == s);
        for label in [
            "Throughput, averaged per second",
            "Batch latency by percentile",
            "time since the load started (s)",
            "transfers per second",
            "percentile",
            "latency (ms)",
            "p0",
            "p50",
            "p99.9",
            "0",
            "14",
        ] {
            assert!(has(label), "no label {label:?}");
        }
        let last = percentile_label(percentile_reach(latency.len()));
        assert_eq!(last, "p99.999");
        assert!(has(&last));
        for t in &texts {
            let (l, top, r, b) = extent(t);
            assert!(
                l >= 0.0 && top >= 0.0 && r <= f64::from(SIZE.0) && b <= f64::from(SIZE.1),
                "{:?} at ({l:.0}, {top:.0}) to ({r:.0}, {b:.0}) leaves the {}x{} picture",
                t.content,
                SIZE.0,
                SIZE.1
            );
        }
    }

    #[test]
    fn a_long_setup_line_shrinks_to_fit() {
        let latency = exponential_latency(50);
        let mut run = run_fixture(&[100; 5], &latency);
        run.secs = 0.5;
        run.setup = format!("cluster at {}", ["127.0.0.1:50051"; 12].join(","));
        let svg = svg(&run).unwrap();
        let texts = svg_texts(&svg);
        let setup = texts
            .iter()
            .find(|t| t.content.ends_with(&run.setup))
            .unwrap();
        let (l, _, r, _) = extent(setup);
        assert!(l >= 0.0 && r <= f64::from(SIZE.0), "{l}..{r}");
        assert!(
            texts.iter().any(|t| t.content == "p99"),
            "reach of 50 samples"
        );
    }
}
