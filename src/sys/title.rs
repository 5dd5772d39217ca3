//! The process title: the kernel's comm and the argv area that `ps aux` shows.
//!
//! Must not: be called from more than one thread at a time (it writes argv in place).

/// Names this process: the kernel's comm (15 bytes at most: `ps -o comm`, top, pgrep) and
/// the command line (`ps aux`).
pub fn set_process_name(name: &str) {
    let bytes: Vec<u8> = name.bytes().filter(|b| *b != 0).take(15).collect();
    if let Ok(name) = std::ffi::CString::new(bytes) {
        let _ = nix::sys::prctl::set_name(&name);
    }
    set_command_line(name);
}

/// What `ps aux` and `/proc/PID/cmdline` show: the kernel reads the process's original
/// argv strings, so the title is written over them (truncated to their length), as uWSGI
/// does. The arguments were copied when main started, and a reload execs with that copy.
fn set_command_line(title: &str) {
    let Some((start, end)) = argv_area() else {
        return;
    };
    let len = end - start;
    if len < 2 {
        return;
    }
    let mut area = vec![0u8; len];
    let title: Vec<u8> = title.bytes().filter(|b| *b != 0).take(len - 1).collect();
    area[..title.len()].copy_from_slice(&title);
    // SAFETY: [start, end) is this process's own argv string area on its initial stack,
    // as the kernel reports it in /proc/self/stat: mapped, writable, and `len` bytes long.
    // Nothing reads argv after main copied it (std::env::args is called once, at start).
    unsafe { std::ptr::copy_nonoverlapping(area.as_ptr(), start as *mut u8, len) };
}

/// arg_start and arg_end from /proc/self/stat (fields 48 and 49).
fn argv_area() -> Option<(usize, usize)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name in parentheses start at field 3.
    let fields: Vec<&str> = stat.rsplit_once(") ")?.1.split_whitespace().collect();
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    (start > 0 && end > start).then_some((start, end))
}
