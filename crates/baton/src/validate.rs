//! `baton validate FILE`: every problem in a workflow document, one line each.

use baton_core::dsl::Problem;
use baton_engine::Limits;
use serde_json::json;

use crate::cli::{OutputFormat, ValidateArgs};
use crate::{connectors, exit, workflow_file};

pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let connectors = connectors::registry(&Default::default());
    let servers = workflow_file::llm_servers(None)?;
    let problems: Vec<Problem> = match workflow_file::load(&args.file).and_then(|document| {
        workflow_file::compile(&document, connectors.as_ref(), &Limits::default(), &servers)
            .map(|_| ())
    }) {
        Ok(()) => Vec::new(),
        Err(problems) => problems,
    };
    match args.format {
        OutputFormat::Json => {
            println!(
                "{}",
                json!({"valid": problems.is_empty(), "errors": problems})
            );
        }
        OutputFormat::Text if problems.is_empty() => eprintln!("{}: valid", args.file.display()),
        OutputFormat::Text => {
            for problem in &problems {
                eprintln!("{problem}");
            }
        }
    }
    Ok(if problems.is_empty() {
        exit::SUCCESS
    } else {
        exit::FAILURE
    })
}
