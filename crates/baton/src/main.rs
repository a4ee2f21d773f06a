//! `baton`: the one binary. It parses the command line and settings, and wires the library
//! crates together; the product lives in those crates.

mod backup;
mod cli;
mod connectors;
mod credentials_file;
mod exit;
mod keys;
mod logging;
mod master_key;
mod migrate;
mod probe;
mod run;
mod serve;
mod settings;
mod startup;
mod validate;
mod worker;
mod workflow_file;

use std::process::ExitCode;

use clap::Parser;
use clap::error::ErrorKind;

use crate::cli::{Cli, Command};

/// mimalloc: a run allocates many small JSON values across threads, where it is markedly
/// faster than the system allocator (see `bench/n8n`). Counted per thread, so a workflow's jq
/// program is held to its memory ceiling.
#[global_allocator]
static ALLOCATOR: baton_engine::jq::CountingAllocator<mimalloc::MiMalloc> =
    baton_engine::jq::CountingAllocator(mimalloc::MiMalloc);

fn main() -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        eprintln!("baton: internal error: {info}");
    }));
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(error),
    };
    // Everything Baton writes (the database and its journal, keys, the mail outbox with its live
    // links) is its owner's alone: files 0600, folders 0700.
    // SAFETY: umask only sets the process's file-creation mask; no memory is involved.
    unsafe {
        libc::umask(0o077);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("baton: error: cannot start the async runtime: {error}");
            return ExitCode::from(exit::FAILURE);
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => serve::run(*args).await.map(|()| exit::SUCCESS),
            Command::Migrate(args) => migrate::run(args).await.map(|()| exit::SUCCESS),
            Command::Validate(args) => validate::run(args),
            Command::Run(args) => run::run(args).await,
            Command::Resume(args) => run::resume(args).await,
            Command::Worker(args) => worker::run(args).await.map(|()| exit::SUCCESS),
            Command::RotateKeys(args) => keys::rotate(args).map(|()| exit::SUCCESS),
            Command::RotateMasterKey(args) => {
                master_key::rotate(args).await.map(|()| exit::SUCCESS)
            }
            Command::Backup(args) => backup::backup(args).await.map(|()| exit::SUCCESS),
            Command::Restore(args) => backup::restore(args).await.map(|()| exit::SUCCESS),
            Command::Probe(args) => probe::run(args).await,
        }
    });
    logging::shutdown();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(error) => {
            eprintln!("baton: error: {error:#}");
            ExitCode::from(exit::FAILURE)
        }
    }
}

/// Help and version go to stdout as usual; a usage mistake becomes one line on stderr.
fn usage_error(error: clap::Error) -> ExitCode {
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = error.print();
            ExitCode::SUCCESS
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(exit::USAGE)
        }
        _ => {
            let rendered = error.render().to_string();
            let first = rendered.lines().next().unwrap_or("invalid usage");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            eprintln!("baton: error: {first} (see `baton --help`)");
            ExitCode::from(exit::USAGE)
        }
    }
}
