//! Which CPU each shard is pinned to: `--cpus` > `cpu-map` > the CPUs this process may run
//! on; how many shards: `--shards` > `nbthread` > the length of that list.

use crate::config::CpuMapEntry;

#[derive(Debug)]
pub struct Plan {
    /// CPU of shard i.
    pub cpus: Vec<usize>,
    pub warnings: Vec<String>,
}

pub fn plan(
    allowed: &[usize],
    shards: Option<usize>,
    cli_cpus: Option<&[usize]>,
    nbthread: Option<u32>,
    cpu_map: &[CpuMapEntry],
) -> Result<Plan, String> {
    if allowed.is_empty() {
        return Err("no CPU is available to this process".into());
    }
    let mut warnings = Vec::new();
    let base: Vec<usize> = cli_cpus
        .map(<[usize]>::to_vec)
        .unwrap_or_else(|| allowed.to_vec());
    let n = shards
        .or(nbthread.map(|n| n as usize))
        .or_else(|| cli_cpus.map(<[usize]>::len))
        .unwrap_or_else(|| {
            // With cpu-map alone, one shard per mapped CPU.
            let mapped: Vec<usize> = cpu_map
                .iter()
                .flat_map(|e| e.cpus.iter().copied())
                .collect();
            if mapped.is_empty() {
                allowed.len()
            } else {
                dedup(mapped).len()
            }
        });
    if n == 0 {
        return Err("the number of shards must be at least 1".into());
    }
    let mut cpus = Vec::with_capacity(n);
    for i in 0..n {
        let thread = i as u32 + 1;
        let cpu = match (cli_cpus, cpu_map_for(cpu_map, thread)) {
            (None, Some(e)) => {
                let offset = if e.auto {
                    (thread - e.first_thread) as usize
                } else {
                    i
                };
                e.cpus[offset % e.cpus.len()]
            }
            _ => base[i % base.len()],
        };
        if !allowed.contains(&cpu) {
            return Err(format!(
                "CPU {cpu} (for shard {i}) is not available to this process (allowed: {})",
                format_list(allowed)
            ));
        }
        cpus.push(cpu);
    }
    let distinct = dedup(cpus.clone()).len();
    if distinct < n {
        warnings.push(format!(
            "{n} shards on {distinct} CPU(s): some shards share a core, which costs latency"
        ));
    }
    Ok(Plan { cpus, warnings })
}

fn cpu_map_for(map: &[CpuMapEntry], thread: u32) -> Option<&CpuMapEntry> {
    // The last matching line wins, as later lines override earlier ones in HAProxy.
    map.iter()
        .rev()
        .find(|e| thread >= e.first_thread && e.last_thread.is_none_or(|l| thread <= l))
}

fn dedup(mut v: Vec<usize>) -> Vec<usize> {
    v.sort_unstable();
    v.dedup();
    v
}

pub fn format_list(cpus: &[usize]) -> String {
    cpus.iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Loc;

    fn entry(first: u32, last: Option<u32>, cpus: &[usize], auto: bool) -> CpuMapEntry {
        CpuMapEntry {
            first_thread: first,
            last_thread: last,
            cpus: cpus.to_vec(),
            auto,
            loc: Loc {
                file: "t".into(),
                line: 1,
            },
        }
    }

    #[test]
    fn defaults_to_allowed_cpus() {
        let p = plan(&[0, 1, 2, 3], None, None, None, &[]).unwrap();
        assert_eq!(p.cpus, vec![0, 1, 2, 3]);
    }

    #[test]
    fn cli_overrides() {
        let p = plan(&[0, 1, 2, 3], None, Some(&[2, 3]), Some(4), &[]).unwrap();
        assert_eq!(p.cpus, vec![2, 3, 2, 3]);
        assert_eq!(p.warnings.len(), 1);
        let p = plan(&[0, 1, 2, 3], Some(1), Some(&[3]), None, &[]).unwrap();
        assert_eq!(p.cpus, vec![3]);
        assert!(
            plan(&[0, 1], None, Some(&[5]), None, &[])
                .unwrap_err()
                .contains("not available")
        );
    }

    #[test]
    fn cpu_map_forms() {
        let m = [
            entry(1, Some(1), &[1], false),
            entry(2, Some(2), &[0], false),
        ];
        assert_eq!(
            plan(&[0, 1], Some(2), None, None, &m).unwrap().cpus,
            vec![1, 0]
        );
        let m = [entry(1, Some(2), &[0, 1], true)];
        assert_eq!(
            plan(&[0, 1], None, None, Some(2), &m).unwrap().cpus,
            vec![0, 1]
        );
        let m = [entry(1, None, &[1], false)];
        assert_eq!(plan(&[0, 1], None, None, None, &m).unwrap().cpus, vec![1]);
    }
}
