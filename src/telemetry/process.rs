//! The standard process metrics (`process_cpu_seconds_total`, `process_resident_memory_bytes`,
//! `process_open_fds`, `process_max_fds`, `process_start_time_seconds`), read from
//! `/proc/self` at each scrape. The `prometheus` crate's `process` feature would bring `procfs`
//! with a second `rustix` and `linux-raw-sys` (docs/dependencies.md); these five numbers need a
//! few lines of text parsing. Without `/proc` (macOS) the families are simply absent.

use std::sync::OnceLock;

use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

/// The families as they are now; none whose source cannot be read.
pub(crate) fn families() -> Vec<MetricFamily> {
    let mut out = Vec::with_capacity(5);
    let stat = std::fs::read_to_string("/proc/self/stat").ok();
    let fields = stat.as_deref().and_then(stat_fields);
    let ticks = rustix::param::clock_ticks_per_second() as f64;
    if let Some(fields) = &fields {
        // utime and stime: fields 14 and 15 of proc(5), in clock ticks.
        let cpu = field(fields, 14).zip(field(fields, 15)).map(|(u, s)| (u + s) / ticks);
        if let Some(cpu) = cpu {
            out.push(counter(
                "process_cpu_seconds_total",
                "Total user and system CPU time spent in seconds.",
                cpu,
            ));
        }
    }
    if let Some(rss) = resident_bytes() {
        out.push(gauge("process_resident_memory_bytes", "Resident memory size in bytes.", rss));
    }
    if let Ok(entries) = std::fs::read_dir("/proc/self/fd") {
        // The directory being listed holds one descriptor itself, as in every client's count.
        out.push(gauge("process_open_fds", "Number of open file descriptors.", entries.count() as f64));
    }
    if let Some(max) = std::fs::read_to_string("/proc/self/limits").ok().as_deref().and_then(max_open_files) {
        out.push(gauge("process_max_fds", "Maximum number of open file descriptors.", max));
    }
    if let Some(start) = start_time(fields.as_deref(), ticks) {
        out.push(gauge(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
            start,
        ));
    }
    out
}

/// The fields of `/proc/self/stat` after the command name (which may hold spaces and
/// parentheses, so the split is at the last `)`), numbered from 3 as proc(5) numbers them.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let (_, rest) = stat.rsplit_once(')')?;
    Some(rest.split_whitespace().collect())
}

/// Field `n` (proc(5)'s 1-based number) as a number.
fn field(fields: &[&str], n: usize) -> Option<f64> {
    fields.get(n.checked_sub(3)?)?.parse().ok()
}

fn resident_bytes() -> Option<f64> {
    // statm: size resident shared ... in pages.
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * rustix::param::page_size() as f64)
}

/// The soft limit of "Max open files" in `/proc/self/limits` (unlimited: no number).
fn max_open_files(limits: &str) -> Option<f64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Boot time plus field 22 (start time after boot, in ticks); fixed for the process's life, so
/// read once.
fn start_time(fields: Option<&[&str]>, ticks: f64) -> Option<f64> {
    static START: OnceLock<Option<f64>> = OnceLock::new();
    *START.get_or_init(|| {
        let after_boot = field(fields?, 22)? / ticks;
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let boot: f64 = stat.lines().find_map(|l| l.strip_prefix("btime "))?.trim().parse().ok()?;
        Some(boot + after_boot)
    })
}

fn family(name: &str, help: &str, kind: MetricType, metric: Metric) -> MetricFamily {
    let mut family = MetricFamily::default();
    family.set_name(name.to_owned());
    family.set_help(help.to_owned());
    family.set_field_type(kind);
    family.mut_metric().push(metric);
    family
}

fn counter(name: &str, help: &str, value: f64) -> MetricFamily {
    let mut metric = Metric::default();
    let mut counter = Counter::default();
    counter.set_value(value);
    metric.set_counter(counter);
    family(name, help, MetricType::COUNTER, metric)
}

fn gauge(name: &str, help: &str, value: f64) -> MetricFamily {
    let mut metric = Metric::default();
    let mut gauge = Gauge::default();
    gauge.set_value(value);
    metric.set_gauge(gauge);
    family(name, help, MetricType::GAUGE, metric)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_name_with_spaces_and_parentheses_does_not_shift_the_fields() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 9000 1000 200";
        let fields = stat_fields(stat).expect("fields");
        assert_eq!(fields[0], "S");
        assert_eq!(
            (field(&fields, 14), field(&fields, 15), field(&fields, 22)),
            (Some(250.0), Some(50.0), Some(9000.0))
        );
    }

    #[test]
    fn the_soft_limit_of_open_files_is_read_and_unlimited_is_none() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024.0));
        assert_eq!(
            max_open_files("Max open files            unlimited            unlimited            files\n"),
            None
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn every_family_is_read_on_linux_with_plausible_values() {
        let families = families();
        let value = |name: &str| {
            let f = families.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("{name} missing"));
            let m = &f.get_metric()[0];
            if f.get_field_type() == MetricType::COUNTER {
                m.get_counter().get_value()
            } else {
                m.get_gauge().get_value()
            }
        };
        assert!(value("process_resident_memory_bytes") > 1_000_000.0);
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs_f64();
        let start = value("process_start_time_seconds");
        assert!(start > now - 86_400.0 && start <= now + 1.0, "start {start}, now {now}");
        assert!(value("process_cpu_seconds_total") >= 0.0);
    }
}
