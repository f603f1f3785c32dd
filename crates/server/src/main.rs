//! The `maillage` binary: a thin main over `maillage_server::cli`.

use std::process::ExitCode;

/// mimalloc instead of glibc malloc. Under the multi-threaded runtime glibc keeps one arena per thread that
/// allocated, and gives little of it back: after 64 concurrent nested queries the server held its peak RSS
/// (about 325 MB) idle. mimalloc's per-thread pages are returned to the system once free (measured figures in
/// docs/PERFORMANCE.md, "Memory").
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    // The whole configuration is read here, once; the subscriber comes first so that every later line is logged.
    let cli = maillage_server::cli::Cli::from_args();
    let telemetry =
        match maillage_server::telemetry::init(cli.telemetry(), cli.default_log_filter()) {
            Ok(guard) => guard,
            Err(message) => {
                eprintln!("error: {message}");
                return ExitCode::FAILURE;
            }
        };
    let code = maillage_server::cli::run(cli).await;
    telemetry.shutdown();
    code
}
