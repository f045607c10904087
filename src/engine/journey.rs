//! One journey: a virtual user runs a scenario's steps in order, each measured from its
//! intended start (the arrival for the first step, the previous end plus think time after).

use std::time::Duration;

use rand::SeedableRng;
use serde_json::{Value, json};
use std::sync::atomic::{AtomicUsize, Ordering};
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
    /// The logged-in sessions open-model journeys share.
    pub sessions: SessionPool,
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

/// The logged-in sessions open-model journeys share, at most `logins` of them: a journey logs
/// in only while fewer exist and no other login is under way (it waits for that one when there
/// is no session yet), otherwise it takes the next session in turn. Sessions stay whatever a
/// journey's outcome; an expired one is replaced. So an error storm or a saturated server never
/// turns into a login storm: real Odoo spends about a second of a worker on each login.
pub struct SessionPool {
    /// Held for a push or a clone, never across an await.
    sessions: std::sync::Mutex<Vec<UserSession>>,
    next: AtomicUsize,
    logins: usize,
    login: tokio::sync::Mutex<()>,
}

impl SessionPool {
    /// A pool of at most `logins` sessions, starting with `initial`.
    pub fn new(logins: usize, initial: Vec<UserSession>) -> SessionPool {
        SessionPool {
            sessions: std::sync::Mutex::new(initial),
            next: AtomicUsize::new(0),
            logins: logins.max(1),
            login: tokio::sync::Mutex::new(()),
        }
    }

    fn guard(&self) -> std::sync::MutexGuard<'_, Vec<UserSession>> {
        // Entries are pushed and removed whole: a panic elsewhere leaves the list valid.
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The number of sessions, and the next one in turn.
    fn pick(&self) -> (usize, Option<UserSession>) {
        let sessions = self.guard();
        let n = sessions.len();
        let pick = (n > 0).then(|| sessions[self.next.fetch_add(1, Ordering::Relaxed) % n].clone());
        (n, pick)
    }

    /// A session for a journey, logging in through `vu` when the pool may grow.
    async fn session(&self, vu: &mut VirtualUser<'_>) -> Option<UserSession> {
        loop {
            let (n, pick) = self.pick();
            if n >= self.logins {
                return pick;
            }
            let _login = match self.login.try_lock() {
                Ok(g) => g,
                Err(_) if n > 0 => return pick,
                Err(_) => {
                    // No session yet and one login under way: wait for it, then look again.
                    drop(self.login.lock().await);
                    continue;
                }
            };
            let (n, pick) = self.pick();
            if n >= self.logins {
                return pick;
            }
            let s = vu.authenticate().await?;
            self.guard().push(s.clone());
            return Some(s);
        }
    }

    /// Puts `new` where `old` was (a session that expired and was logged in again).
    fn replace(&self, old: &UserSession, new: Option<&UserSession>) {
        let mut sessions = self.guard();
        sessions.retain(|s| s.cookie != old.cookie);
        if let Some(n) = new
            && sessions.len() < self.logins
        {
            sessions.push(n.clone());
        }
    }
}

/// How a virtual user holds its session across journeys.
pub enum SessionSlot<'a> {
    /// Share the run's pool of sessions (open model).
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
    let abandoned = Abandon::new(
        ctx,
        Pending::Journey {
            scenario: scenario_index,
            intended: ctx.since_t0(intended),
        },
    );
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
        let (value, text) = generator.draw_with_text(&mut draw);
        slots[crate::plan::scenario::FIRST_VAR_SLOT + i] = value;
        if let (Some(slot), Some(text)) = (scenario.text_slots[i], text) {
            slots[slot] = text;
        }
    }
    let mut vu = VirtualUser {
        ctx,
        cookie: None,
        next_intended: intended,
    };
    let mut shared = None;
    let pooled = matches!(slot, SessionSlot::Pooled);
    let session = match slot {
        SessionSlot::Owned(s) => s,
        SessionSlot::Pooled => &mut shared,
    };
    if pooled && scenario.needs_login {
        *session = ctx.sessions.session(&mut vu).await;
    }
    let taken = session.clone();
    let mut ok = true;
    if scenario.needs_login {
        if session.is_none() && !pooled {
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
    // A failed journey keeps its login: only an expired session is replaced, so an error storm
    // never turns into a login storm.
    if pooled
        && let Some(old) = &taken
        && session.as_ref().map(|s| &s.cookie) != Some(&old.cookie)
    {
        ctx.sessions.replace(old, session.as_ref());
    }
    abandoned.done();
    ctx.emit(Event::Journey {
        scenario: scenario_index,
        intended: ctx.since_t0(intended),
        end: ctx.since_t0(Instant::now()),
        ok,
    });
    ok
}

/// A request or a journey under way. Dropped before [`Abandon::done`] (the run abandoned it at
/// the end of its grace, or on a second signal), it is recorded as `interrupted`, with its
/// time up to that moment: a stall at the end of a run shows in the record.
struct Abandon<'a> {
    ctx: &'a JourneyContext,
    pending: Option<Pending>,
}

enum Pending {
    Step {
        step: usize,
        intended: Duration,
        sent: Duration,
    },
    Journey {
        scenario: usize,
        intended: Duration,
    },
}

impl<'a> Abandon<'a> {
    fn new(ctx: &'a JourneyContext, pending: Pending) -> Self {
        Abandon {
            ctx,
            pending: Some(pending),
        }
    }
    fn done(mut self) {
        self.pending = None;
    }
}

impl Drop for Abandon<'_> {
    fn drop(&mut self) {
        let end = self.ctx.since_t0(Instant::now());
        match self.pending.take() {
            Some(Pending::Step {
                step,
                intended,
                sent,
            }) => self.ctx.emit(Event::Step(Sample {
                step,
                intended,
                sent,
                end,
                error: Some(Failure::new(
                    ErrorKind::Interrupted,
                    "still in flight when the run stopped and its grace ran out",
                )),
                redirects: 0,
            })),
            Some(Pending::Journey { scenario, intended }) => self.ctx.emit(Event::Journey {
                scenario,
                intended,
                end,
                ok: false,
            }),
            None => {}
        }
    }
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
        let in_flight = Abandon::new(
            self.ctx,
            Pending::Step {
                step: step.id,
                intended: self.ctx.since_t0(self.next_intended),
                sent: self.ctx.since_t0(sent),
            },
        );
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
        in_flight.done();
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
        if !wanted.iter().any(|w| same_value(w, got)) {
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

/// JSON equality where a number is its value: `1` expected matches Odoo's `1.0` (a float
/// field's JSON), as a person reading the profile means. A string is never a number.
fn same_value(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x == y,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_value(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| same_value(v, w)))
        }
        _ => a == b,
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::scenario::ScenarioSource;
    use crate::odoo::transport::{HttpRequest, HttpResponse, ScriptedTransport};
    use crate::odoo::wire;
    use crate::target::data::DataSets;
    use std::collections::HashMap;
    use std::sync::Arc;

    /// A scenario compiled from `text`, its steps numbered from 1 (0 is the login).
    fn scenario(text: &str) -> Scenario {
        scenario_in(text, std::path::Path::new("."))
    }

    /// The same, with its data files in `data_dir`.
    fn scenario_in(text: &str, data_dir: &std::path::Path) -> Scenario {
        let src = ScenarioSource::parse("s", "s.toml".into(), text.to_string()).unwrap();
        let mut next = 1;
        crate::plan::scenario::compile(
            &src,
            data_dir,
            &mut HashMap::new(),
            &mut next,
            "17",
            &DataSets::offline(),
        )
        .unwrap()
    }

    /// Runs one journey against a scripted Odoo; returns the step samples and the outcome.
    async fn journey(
        s: &Scenario,
        transport: Arc<ScriptedTransport>,
        session: &mut Option<UserSession>,
    ) -> (Vec<Sample>, bool) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let ctx = JourneyContext {
            client: OdooClient::new(
                transport,
                url::Url::parse("http://odoo.test").unwrap(),
                Duration::from_secs(30),
            ),
            credentials: Some(Credentials {
                database: "db".into(),
                login: "admin".into(),
                password: crate::plan::Secret::new("pw".into()),
            }),
            sessions: SessionPool::new(8, Vec::new()),
            events: tx,
            t0: Instant::now(),
            seed: 1,
            run_nonce: 1,
        };
        let ok = run(&ctx, s, 0, 0, Instant::now(), SessionSlot::Owned(session)).await;
        drop(ctx);
        let mut samples = Vec::new();
        while let Some(e) = rx.recv().await {
            if let Event::Step(sample) = e {
                samples.push(sample);
            }
        }
        (samples, ok)
    }

    fn json_body(req: &HttpRequest) -> Value {
        serde_json::from_slice(&req.body.as_ref().unwrap().1).unwrap()
    }

    #[test]
    fn expect_numbers_compare_by_value_never_by_text() {
        assert!(same_value(&json!(1), &json!(1.0)));
        assert!(same_value(
            &json!({"qty": [2, 3]}),
            &json!({"qty": [2.0, 3.0]})
        ));
        assert!(!same_value(&json!(1), &json!(1.5)));
        assert!(!same_value(&json!("1"), &json!(1)));
        assert!(!same_value(&json!({"a": 1}), &json!({"a": 1, "b": 2})));
        assert!(same_value(&json!(u64::MAX), &json!(u64::MAX)));
    }

    #[tokio::test(start_paused = true)]
    async fn csv_values_keep_their_text_on_the_wire() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("codes.csv"),
            "barcode,qty:int,price:float,product_id\n\"4006381333931\",007,19.90,42\n",
        )
        .unwrap();
        let s = scenario_in(
            concat!(
                "[vars]\nrow = { gen = \"pick\", data = \"codes.csv\" }\n",
                "code = { gen = \"pick\", data = \"codes.csv\", column = \"price\" }\n",
                "[[step]]\nname = \"scan\"\n",
                "call_kw = { model = \"product.product\", method = \"search_read\" }\n",
                "args = [[[\"barcode\", \"=\", \"{{row.barcode}}\"], [\"id\", \"=\", \"{{row.product_id}}\"]]]\n",
                "kwargs = { qty = \"{{row.qty}}\", price = \"{{code}}\", ref = \"p-{{row.price}}/{{code}}x{{row.qty}}\" }\n",
            ),
            dir.path(),
        );
        let t = ScriptedTransport::new(|_, _| {
            Ok(HttpResponse::json(&wire::result_body(&json!(1), json!([]))))
        });
        let (_, ok) = journey(&s, t.clone(), &mut None).await;
        assert!(ok);
        let params = &json_body(&t.requests()[0])["params"];
        // An identifier stays text; a record id and a typed column are numbers.
        assert_eq!(
            params["args"],
            json!([[["barcode", "=", "4006381333931"], ["id", "=", 42]]])
        );
        assert_eq!(params["kwargs"]["qty"], json!(7));
        assert_eq!(params["kwargs"]["price"], json!(19.9));
        // Inside longer text, every value is its text as written.
        assert_eq!(params["kwargs"]["ref"], json!("p-19.90/19.90x007"));
    }

    #[tokio::test(start_paused = true)]
    async fn csv_values_saved_over_are_their_new_value_in_text() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("p.csv"), "price:float\n19.90\n").unwrap();
        let s = scenario_in(
            concat!(
                "[vars]\nprice = { gen = \"pick\", data = \"p.csv\", column = \"price\" }\n",
                "[[step]]\nname = \"a\"\ncall_kw = { model = \"m\", method = \"x\" }\n",
                "kwargs = { ref = \"p-{{price}}\" }\nsave = { price = \"/price\" }\n",
                "[[step]]\nname = \"b\"\ncall_kw = { model = \"m\", method = \"y\" }\n",
                "kwargs = { ref = \"p-{{price}}\" }\n",
            ),
            dir.path(),
        );
        let t = ScriptedTransport::new(|_, _| {
            Ok(HttpResponse::json(&wire::result_body(
                &json!(1),
                json!({"price": 7.5}),
            )))
        });
        let (_, ok) = journey(&s, t.clone(), &mut None).await;
        assert!(ok);
        let refs: Vec<Value> = t
            .requests()
            .iter()
            .map(|r| json_body(r)["params"]["kwargs"]["ref"].clone())
            .collect();
        assert_eq!(refs, [json!("p-19.90"), json!("p-7.5")]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_redirect_chain_ending_in_a_500_is_an_error_with_the_whole_chain_s_latency() {
        let s = scenario("[[step]]\nname = \"page\"\nhttp = \"/shop/product-7\"\n");
        let mut t = ScriptedTransport::new(|req, _| {
            Ok(match req.path.as_str() {
                "/shop/product-7" => HttpResponse::redirect(301, "/shop/desk-7"),
                _ => HttpResponse::html(500, "Internal Server Error"),
            })
        });
        Arc::get_mut(&mut t).unwrap().delay = Duration::from_millis(100);
        let (samples, ok) = journey(&s, t, &mut None).await;
        assert!(!ok);
        let page = &samples[0];
        assert_eq!(page.error.as_ref().unwrap().kind, ErrorKind::Http(500));
        assert_eq!(page.redirects, 1);
        assert_eq!(
            page.latency(),
            Duration::from_millis(200),
            "both hops are in the latency"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wizard_answer_is_kind_wizard_and_nothing_counts_as_done() {
        let s = scenario(
            "session = \"user\"\n[[step]]\nname = \"validate\"\ncall_button = { model = \"stock.picking\", method = \"button_validate\" }\nargs = [[7]]\n",
        );
        let t = ScriptedTransport::new(|req, _| {
            Ok(match req.path.as_str() {
                "/web/session/authenticate" => {
                    let mut r =
                        HttpResponse::json(&wire::result_body(&json!(1), json!({"uid": 2})));
                    r.session_cookie = Some("session_id=a".into());
                    r
                }
                _ => HttpResponse::json(&wire::result_body(
                    &json!(1),
                    json!({
                    "type": "ir.actions.act_window", "res_model": "stock.backorder.confirmation",
                    "name": "Create Backorder?", "context": {"button_validate_picking_ids": [7]}}),
                )),
            })
        });
        let (samples, ok) = journey(&s, t, &mut None).await;
        assert!(!ok);
        let f = samples[1].error.as_ref().unwrap();
        assert_eq!(f.kind.label(), "wizard");
        assert!(
            f.message.contains("stock.backorder.confirmation"),
            "{}",
            f.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_wizard_the_step_knows_is_answered_with_its_dialog_context() {
        let s = scenario(concat!(
            "session = \"user\"\n[[step]]\nname = \"validate\"\n",
            "call_button = { model = \"stock.picking\", method = \"button_validate\" }\nargs = [[7]]\n",
            "on_wizard = { \"stock.backorder.confirmation\" = \"process\" }\n"
        ));
        let t = ScriptedTransport::new(|req, _| {
            let body = req
                .body
                .as_ref()
                .map(|_| json_body(req))
                .unwrap_or(Value::Null);
            let result = match body["params"]["method"].as_str() {
                None => json!({"uid": 2}),
                Some("button_validate") => {
                    json!({"type": "ir.actions.act_window", "res_model": "stock.backorder.confirmation",
                    "context": {"button_validate_picking_ids": [7], "default_pick_ids": [[4, 7]]}})
                }
                Some("create") => json!(42),
                Some("process") => json!(false),
                other => panic!("{other:?}"),
            };
            let mut r = HttpResponse::json(&wire::result_body(&json!(1), result));
            r.session_cookie =
                (req.path == "/web/session/authenticate").then(|| "session_id=a".to_string());
            Ok(r)
        });
        let (samples, ok) = journey(&s, t.clone(), &mut None).await;
        assert!(ok, "{:?}", samples);
        let sent: Vec<Value> = t.requests().iter().skip(1).map(json_body).collect();
        assert_eq!(sent[1]["params"]["model"], "stock.backorder.confirmation");
        assert_eq!(sent[1]["params"]["method"], "create");
        let context = &sent[2]["params"]["kwargs"]["context"];
        assert_eq!(sent[2]["params"]["method"], "process");
        assert_eq!(sent[2]["params"]["args"], json!([[42]]));
        assert_eq!(context["button_validate_picking_ids"], json!([7]));
        assert_eq!(context["active_model"], "stock.picking");
        assert_eq!(context["active_ids"], json!([7]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_journey_keeps_its_login_and_only_an_expiry_logs_in_again() {
        let s = scenario(
            "session = \"user\"\n[[step]]\nname = \"x\"\ncall_kw = { model = \"res.partner\", method = \"read\" }\n",
        );
        let t = ScriptedTransport::new(|req, n| {
            Ok(match (req.path.as_str(), n) {
                ("/web/session/authenticate", _) => {
                    let mut r =
                        HttpResponse::json(&wire::result_body(&json!(1), json!({"uid": 2})));
                    r.session_cookie = Some(format!("session_id=s{n}"));
                    r
                }
                // The first call fails, the second finds the session expired.
                (_, 1) => HttpResponse::json(&wire::error_body(
                    &json!(1),
                    200,
                    "odoo.exceptions.UserError",
                    "no",
                )),
                (_, 2) => HttpResponse::json(&wire::error_body(
                    &json!(1),
                    100,
                    "odoo.http.SessionExpiredException",
                    "Session expired",
                )),
                _ => HttpResponse::json(&wire::result_body(&json!(1), json!([]))),
            })
        });
        let mut session = None;
        let (_, ok) = journey(&s, t.clone(), &mut session).await;
        assert!(!ok);
        assert_eq!(
            session.as_ref().unwrap().cookie,
            "session_id=s0",
            "kept after a failure"
        );
        let (_, ok) = journey(&s, t.clone(), &mut session).await;
        assert!(ok);
        let logins = t
            .requests()
            .iter()
            .filter(|r| r.path == "/web/session/authenticate")
            .count();
        assert_eq!(logins, 2, "one login, and one more after the expiry");
        assert_eq!(session.unwrap().cookie, "session_id=s3");
    }
}
