//! The `peakgate` binary: everything lives in the library.

fn main() -> std::process::ExitCode {
    peakgate::cli::main()
}
