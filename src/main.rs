//! The `peakgate` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    // A closed stdout (`peakgate verdict RUN | head -1`) ends peakgate the way it ends any
    // Unix tool, not with a panic inside `println!`. Rust ignores SIGPIPE by default so that a
    // write to a closed socket is an error; sockets stay unaffected, because the standard
    // library writes to them with MSG_NOSIGNAL.
    #[cfg(unix)]
    // SAFETY: restoring a signal's default disposition before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    peakgate::cli::main()
}
