//! Reading /proc: a process's memory from `statm` and `smaps_rollup`.
//!
//! Must not: cache (each figure is read fresh when asked).

/// Memory of a process in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Memory {
    /// Address space (statm's first field, `vsz`).
    pub virtual_bytes: u64,
    /// Resident set (statm's second field, `rss`).
    pub resident_bytes: u64,
}

/// The system's page size (sysconf), 4096 if it cannot be read.
pub fn page_size() -> u64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
        .ok()
        .flatten()
        .map_or(4096, |size| size as u64)
}

/// `/proc/PID/statm` of `pid`; None if the process is gone or the file unreadable.
pub fn memory(pid: i32) -> Option<Memory> {
    read_statm(&format!("/proc/{pid}/statm"))
}

/// `/proc/self/statm`.
pub fn own_memory() -> Option<Memory> {
    read_statm("/proc/self/statm")
}

/// (RSS, PSS) of a process in bytes, from /proc/PID/smaps_rollup; zeros if unreadable.
pub fn rss_pss(pid: i32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|line| line.starts_with(name))
            .and_then(|line| line.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<u64>().ok())
            .map_or(0, |kb| kb * 1024)
    };
    (field("Rss:"), field("Pss:"))
}

fn read_statm(path: &str) -> Option<Memory> {
    parse_statm(&std::fs::read_to_string(path).ok()?, page_size())
}

/// statm's first two fields (pages) as bytes.
pub fn parse_statm(text: &str, page: u64) -> Option<Memory> {
    let mut pages = text.split_whitespace().map(|n| n.parse::<u64>().ok());
    Some(Memory {
        virtual_bytes: pages.next()?? * page,
        resident_bytes: pages.next()?? * page,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statm_fields_in_bytes() {
        assert_eq!(
            parse_statm("10 3 1 1 0 2 0\n", 16384),
            Some(Memory {
                virtual_bytes: 163_840,
                resident_bytes: 49_152
            })
        );
        assert_eq!(parse_statm("", 4096), None);
        let own = own_memory().expect("this process has a statm");
        assert!(own.resident_bytes > 0 && own.virtual_bytes >= own.resident_bytes);
        assert!(page_size().is_power_of_two());
    }
}
