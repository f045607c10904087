//! goose, closed model: each user POSTs the benchmark's JSON-RPC call in a loop.

use goose::prelude::*;

const BODY: &str = r#"{"jsonrpc":"2.0","method":"call","params":{},"id":1}"#;

async fn version_info(user: &mut GooseUser) -> TransactionResult {
    let builder = user
        .get_request_builder(&GooseMethod::Post, "/web/webclient/version_info")?
        .header("Content-Type", "application/json")
        .body(BODY);
    user.request(GooseRequest::builder().set_request_builder(builder).build()).await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(scenario!("rpc").register_transaction(transaction!(version_info)))
        .execute()
        .await?;
    Ok(())
}
