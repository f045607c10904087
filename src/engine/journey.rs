//! One journey: a virtual user runs a scenario's steps in order, each measured from its
//! intended start (the arrival for the first step, the previous end plus think time after).

use std::time::Duration;

use crossbeam_queue::SegQueue;
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::sample::{Event, Sample};
use crate::odoo::wire::{WindowAction, window_action};
use crate::odoo::{
    ErrorKind, Failure, MAX_REDIRECTS, OdooClient, PageRequest, RpcExchange, RpcOutcome,
    UserSession,
};
use crate::plan::generator::{Draw, JourneyRng};
use crate::plan::scenario::{SLOT_DB, SLOT_LOGIN, SLOT_UID, WizardAnswer};
use crate::plan::{Call, Credentials, Scenario, Step};

/// Wizards one step may answer in a row before it gives up (a wizard leading to a wizard).
const MAX_WIZARDS: usize = 5;

/// What every journey of a run shares.
pub struct JourneyContext {
    pub client: OdooClient,
    /// Login for `session = "user"` scenarios and `execute_kw` steps.
    pub credentials: Option<Credentials>,
    /// Logged-in sessions not in use: an open-model journey borrows one, as a returning user
    /// would, and gives it back whatever happened, unless it expired.
    pub sessions: SegQueue<UserSession>,
    pub events: mpsc::UnboundedSender<Event>,
    pub t0: Instant,
    pub seed: u64,
    /// Differs on every run: ids the target must never see twice (POS order references).
    pub run_nonce: u64,
}

impl JourneyContext {
    fn since_t0(&self, at: Instant) -> Duration {
        at.saturating_duration_since(self.t0)
    }

    pub fn emit(&self, event: Event) {
        // The recorder outlives every journey; a closed channel means the run is being torn
        // down and there is nobody left to count this.
        let _ = self.events.send(event);
    }
}

/// How a virtual user holds its session across journeys.
pub enum SessionSlot<'a> {
    /// Borrow from the shared pool for this journey (open model).
    Pooled,
    /// The terminal's own session, kept across its journeys (closed model).
    Owned(&'a mut Option<UserSession>),
}

/// Runs one journey of `scenario`; returns whether every step succeeded.
pub async fn run(
    ctx: &JourneyContext,
    scenario: &Scenario,
    scenario_index: usize,
    seq: u64,
    intended: Instant,
    slot: SessionSlot<'_>,
) -> bool {
    let mut rng = JourneyRng::seed_from_u64(ctx.seed ^ seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut slots = vec![Value::Null; scenario.slots];
    if let Some(c) = &ctx.credentials {
        slots[SLOT_DB] = Value::String(c.database.clone());
        slots[SLOT_LOGIN] = Value::String(c.login.clone());
    }
    let mut draw = Draw {
        rng: &mut rng,
        seq,
        run_nonce: ctx.run_nonce,
    };
    for (i, (_, generator)) in scenario.vars.iter().enumerate() {
        slots[crate::plan::scenario::FIRST_VAR_SLOT + i] = generator.draw(&mut draw);
    }
    let mut borrowed = None;
    let (session, pooled) = match slot {
        SessionSlot::Owned(s) => (s, false),
        SessionSlot::Pooled => {
            borrowed = ctx.sessions.pop();
            (&mut borrowed, true)
        }
    };
    let mut vu = VirtualUser {
        ctx,
        cookie: None,
        next_intended: intended,
    };
    let mut ok = true;
    if scenario.needs_login {
        if session.is_none() {
            *session = vu.authenticate().await;
        }
        match session {
            Some(s) => {
                vu.cookie = Some(s.cookie.clone());
                slots[SLOT_UID] = s.uid.clone();
            }
            None => ok = false,
        }
    }
    if ok {
        for step in &scenario.steps {
            if !vu
                .step(step, &mut slots, session, scenario.needs_login)
                .await
            {
                ok = false;
                break;
            }
        }
    }
    // A failed journey keeps its login: only an expired session is thrown away, so an error
    // storm never turns into a login storm.
    if pooled && let Some(s) = borrowed.take() {
        ctx.sessions.push(s);
    }
    ctx.emit(Event::Journey {
        scenario: scenario_index,
        intended: ctx.since_t0(intended),
        end: ctx.since_t0(Instant::now()),
        ok,
    });
    ok
}

/// A virtual user's state within one journey.
struct VirtualUser<'a> {
    ctx: &'a JourneyContext,
    /// The `session_id=...` cookie sent with each request.
    cookie: Option<String>,
    /// When the next request should be sent, by the plan.
    next_intended: Instant,
}

/// What a step's request came back with.
enum Outcome {
    Json(Value),
    Page { body: String },
    Expired,
    Failed(Failure),
}

impl VirtualUser<'_> {
    /// Logs in through `/web/session/authenticate`, measured as the `session/authenticate` step.
    async fn authenticate(&mut self) -> Option<UserSession> {
        let sent = Instant::now();
        let outcome = self.login().await;
        self.record(
            crate::plan::AUTH_STEP_ID,
            sent,
            outcome.as_ref().err().cloned(),
            0,
        );
        outcome.ok()
    }

    /// The login request itself.
    async fn login(&self) -> Result<UserSession, Failure> {
        let creds = self.ctx.credentials.as_ref().ok_or_else(|| {
            Failure::new(
                ErrorKind::Check,
                "the scenario logs in but the run has no login",
            )
        })?;
        self.ctx
            .client
            .authenticate(&creds.database, &creds.login, creds.password.expose())
            .await
    }

    fn record(&mut self, step: usize, sent: Instant, error: Option<Failure>, redirects: u32) {
        let end = Instant::now();
        let sample = Sample {
            step,
            intended: self.ctx.since_t0(self.next_intended),
            sent: self.ctx.since_t0(sent),
            end: self.ctx.since_t0(end),
            error,
            redirects,
        };
        self.next_intended = end;
        self.ctx.emit(Event::Step(sample));
    }

    /// Runs one step; on code 100 logs in again once and retries. Returns success.
    async fn step(
        &mut self,
        step: &Step,
        slots: &mut [Value],
        session: &mut Option<UserSession>,
        has_user: bool,
    ) -> bool {
        let wait = self.next_intended.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        let sent = Instant::now();
        let (mut outcome, mut redirects) = self.send(step, slots).await;
        if matches!(outcome, Outcome::Expired) && has_user {
            self.ctx.emit(Event::Reauthenticated);
            // A re-login inside a step: its time belongs to the step that needed it.
            *session = self.login().await.ok();
            if let Some(s) = session {
                self.cookie = Some(s.cookie.clone());
                slots[SLOT_UID] = s.uid.clone();
                (outcome, redirects) = self.send(step, slots).await;
            }
        }
        let error = match outcome {
            Outcome::Json(result) => match self.answer_wizards(step, slots, result).await {
                Ok(result) => check_json(step, &result, slots).err(),
                Err(f) => Some(f),
            },
            Outcome::Page { body } => check_page(step, &body, slots).err(),
            Outcome::Expired => Some(Failure::new(
                ErrorKind::SessionExpired,
                "the session expired and logging in again did not help",
            )),
            Outcome::Failed(f) => Some(f),
        };
        let ok = error.is_none();
        self.record(step.id, sent, error, redirects);
        self.next_intended += step.think;
        ok
    }

    /// Sends the step's request; returns the outcome and the redirects a page followed.
    async fn send(&mut self, step: &Step, slots: &[Value]) -> (Outcome, u32) {
        let client = &self.ctx.client;
        let cookie = self.cookie.as_deref();
        let id = step.id as u64;
        let exchange = match &step.call {
            Call::CallKw {
                path,
                model,
                method,
                args,
                kwargs,
            } => {
                let params = json!({"model": model, "method": method, "args": args.render(slots), "kwargs": kwargs.render(slots)});
                client.rpc(path, &params, id, cookie).await
            }
            Call::ExecuteKw {
                model,
                method,
                args,
                kwargs,
            } => {
                let password = self
                    .ctx
                    .credentials
                    .as_ref()
                    .map_or("", |c| c.password.expose());
                let params = json!({"service": "object", "method": "execute_kw", "args": [
                    slots[SLOT_DB], slots[SLOT_UID], password, model, method, args.render(slots), kwargs.render(slots)
                ]});
                client.rpc("/jsonrpc", &params, id, cookie).await
            }
            Call::JsonRpc { path, params } => {
                client
                    .rpc(
                        &path.render_string(slots),
                        &params.render(slots),
                        id,
                        cookie,
                    )
                    .await
            }
            Call::Http { path, form } => {
                let req = PageRequest {
                    path: path.render_string(slots),
                    form: form.as_ref().map(|fields| {
                        fields
                            .iter()
                            .map(|(k, t)| (k.clone(), t.render_string(slots)))
                            .collect()
                    }),
                };
                let page = client.page(&req, cookie, MAX_REDIRECTS).await;
                self.keep_cookie(page.session_cookie);
                let outcome = match page.outcome {
                    Ok(p) => Outcome::Page {
                        body: String::from_utf8_lossy(&p.body).into_owned(),
                    },
                    Err(f) => Outcome::Failed(f),
                };
                return (outcome, page.redirects);
            }
        };
        (self.read(exchange), 0)
    }

    fn read(&mut self, exchange: RpcExchange) -> Outcome {
        self.keep_cookie(exchange.session_cookie);
        match exchange.outcome {
            RpcOutcome::Result(v) => Outcome::Json(v),
            RpcOutcome::SessionExpired => Outcome::Expired,
            RpcOutcome::Failed(f) => Outcome::Failed(f),
        }
    }

    /// Answers the wizards Odoo opens the way the step says a user would, until Odoo answers
    /// something that is not a wizard. A wizard the step does not know means the work was not
    /// done: a failure of kind `wizard`.
    async fn answer_wizards(
        &mut self,
        step: &Step,
        slots: &[Value],
        mut result: Value,
    ) -> Result<Value, Failure> {
        for _ in 0..MAX_WIZARDS {
            let Some(wizard) = window_action(&result) else {
                return Ok(result);
            };
            match step.on_wizard.iter().find(|(m, _)| *m == wizard.res_model) {
                None => {
                    return Err(Failure::new(
                        ErrorKind::Wizard,
                        format!(
                            "Odoo answered the wizard {:?} ({}) instead of doing the work",
                            wizard.name, wizard.res_model
                        ),
                    ));
                }
                Some((_, WizardAnswer::Accept)) => return Ok(result),
                Some((_, WizardAnswer::Press(button))) => {
                    let context = dialog_context(step, slots, &wizard);
                    result = self.press(&wizard, button, context).await?;
                }
            }
        }
        Err(Failure::new(
            ErrorKind::Wizard,
            format!("more than {MAX_WIZARDS} wizards in a row"),
        ))
    }

    /// What the web client does with a wizard: creates its record with the action's context
    /// (unless Odoo already did), then presses the button, sending the context back.
    async fn press(
        &mut self,
        wizard: &WindowAction,
        button: &str,
        context: Value,
    ) -> Result<Value, Failure> {
        let client = self.ctx.client.clone();
        let context = json!({ "context": context });
        let id = match wizard.res_id {
            Some(id) => json!(id),
            None => {
                let created = client
                    .call_kw(
                        &wizard.res_model,
                        "create",
                        json!([{}]),
                        context.clone(),
                        self.cookie.as_deref(),
                    )
                    .await;
                match self.read(created) {
                    Outcome::Json(id) if id.is_i64() => id,
                    Outcome::Json(other) => {
                        return Err(Failure::new(
                            ErrorKind::Check,
                            format!("creating the wizard {} answered {other}", wizard.res_model),
                        ));
                    }
                    other => return Err(failure_of(other)),
                }
            }
        };
        let pressed = client
            .call_button(
                &wizard.res_model,
                button,
                json!([[id]]),
                context,
                self.cookie.as_deref(),
            )
            .await;
        match self.read(pressed) {
            Outcome::Json(v) => Ok(v),
            other => Err(failure_of(other)),
        }
    }

    /// A visitor keeps the session the server gives it (e.g. for its cart).
    fn keep_cookie(&mut self, cookie: Option<String>) {
        if let Some(c) = cookie {
            self.cookie = Some(c);
        }
    }
}

/// The context a wizard's dialog runs with, as the web client builds it: the button's own
/// context, the record the button was on (`active_model`, `active_id`, `active_ids`), then the
/// action's context over both.
fn dialog_context(step: &Step, slots: &[Value], wizard: &WindowAction) -> Value {
    let mut ctx = serde_json::Map::new();
    if let Call::CallKw {
        model,
        args,
        kwargs,
        ..
    } = &step.call
    {
        if let Some(Value::Object(own)) = kwargs.render(slots).get("context") {
            ctx.extend(own.clone());
        }
        let ids: Vec<Value> = match args.render(slots).get(0) {
            Some(Value::Array(ids)) => ids.clone(),
            Some(id @ Value::Number(_)) => vec![id.clone()],
            _ => Vec::new(),
        };
        if let Some(first) = ids.first() {
            ctx.insert("active_model".into(), json!(model));
            ctx.insert("active_id".into(), first.clone());
            ctx.insert("active_ids".into(), Value::Array(ids));
        }
    }
    if let Value::Object(action) = &wizard.context {
        ctx.extend(action.clone());
    }
    Value::Object(ctx)
}

fn failure_of(outcome: Outcome) -> Failure {
    match outcome {
        Outcome::Failed(f) => f,
        Outcome::Expired => Failure::new(ErrorKind::SessionExpired, "the session expired"),
        Outcome::Json(_) | Outcome::Page { .. } => {
            Failure::new(ErrorKind::Check, "unexpected answer")
        }
    }
}

/// Checks a JSON result against the step's `expect` and keeps its `save`d values.
fn check_json(step: &Step, result: &Value, slots: &mut [Value]) -> Result<(), Failure> {
    for (pointer, wanted) in &step.expect {
        let got = result.pointer(pointer).unwrap_or(&Value::Null);
        if !wanted.contains(got) {
            let wanted: Vec<String> = wanted.iter().map(Value::to_string).collect();
            return Err(Failure::new(
                ErrorKind::Check,
                format!(
                    "expected {pointer} = {}, the answer has {}",
                    wanted.join(" or "),
                    short(got)
                ),
            ));
        }
    }
    for (slot, pointer) in &step.save {
        match result.pointer(pointer) {
            Some(v) => slots[*slot] = v.clone(),
            None => {
                return Err(Failure::new(
                    ErrorKind::Check,
                    format!("the answer has nothing at {pointer:?}: {}", short(result)),
                ));
            }
        }
    }
    Ok(())
}

/// Checks a page's body for the step's `expect_text` and keeps what `extract` finds.
fn check_page(step: &Step, body: &str, slots: &mut [Value]) -> Result<(), Failure> {
    if let Some(text) = &step.expect_text
        && !body.contains(text.as_str())
    {
        return Err(Failure::new(
            ErrorKind::Check,
            format!("the page does not contain {text:?}"),
        ));
    }
    for (slot, re) in &step.extract {
        match re.captures(body).and_then(|c| c.get(1)) {
            Some(m) => slots[*slot] = Value::String(m.as_str().to_string()),
            None => {
                return Err(Failure::new(
                    ErrorKind::Check,
                    format!("the page has no match for {:?}", re.as_str()),
                ));
            }
        }
    }
    Ok(())
}

/// A value cut to 120 characters, for messages.
fn short(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(120) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s,
    }
}
