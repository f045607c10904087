//! One journey: a virtual user runs a scenario's steps in order, each measured from its
//! intended start (the arrival for the first step, the previous end plus think time after).

use std::time::Duration;

use crossbeam_queue::SegQueue;
use rand::SeedableRng;
use serde_json::{Value, json};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::{OdooClient, RpcOutcome, envelope, read_rpc};
use super::sample::{ErrorKind, Event, Sample};
use crate::plan::generator::JourneyRng;
use crate::plan::scenario::{SLOT_DB, SLOT_LOGIN, SLOT_UID};
use crate::plan::{Call, Credentials, Scenario, Step};

/// A logged-in Odoo session: its cookie and user id.
#[derive(Debug, Clone)]
pub struct UserSession {
    pub cookie: String,
    pub uid: Value,
}

/// What every journey of a run shares.
pub struct JourneyContext {
    pub client: OdooClient,
    /// Login for `session = "user"` scenarios and `execute_kw` steps.
    pub credentials: Option<Credentials>,
    /// Sessions not in use: an open-model journey borrows one, as a returning user would.
    pub sessions: SegQueue<UserSession>,
    pub events: mpsc::UnboundedSender<Event>,
    pub t0: Instant,
    pub seed: u64,
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
    for (i, (_, generator)) in scenario.vars.iter().enumerate() {
        slots[crate::plan::scenario::FIRST_VAR_SLOT + i] = generator.draw(&mut rng, seq);
    }
    let needs_user = scenario.needs_login;
    let mut owned_tmp = None;
    let (session, pooled) = match slot {
        SessionSlot::Owned(s) => (s, false),
        SessionSlot::Pooled => {
            owned_tmp = ctx.sessions.pop();
            (&mut owned_tmp, true)
        }
    };
    let mut vu = VirtualUser {
        ctx,
        cookie: None,
        next_intended: intended,
    };
    let mut ok = true;
    if needs_user {
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
            if !vu.step(step, &mut slots, session, needs_user).await {
                ok = false;
                break;
            }
        }
    }
    if pooled
        && ok
        && let Some(s) = owned_tmp.take()
    {
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

impl VirtualUser<'_> {
    /// Logs in through `/web/session/authenticate`, measured as the `session/authenticate` step.
    async fn authenticate(&mut self) -> Option<UserSession> {
        let sent = Instant::now();
        let outcome = self.login().await;
        self.record(
            crate::plan::AUTH_STEP_ID,
            sent,
            outcome.as_ref().err().cloned(),
        )
        .await;
        outcome.ok()
    }

    /// The login request itself.
    async fn login(&self) -> Result<UserSession, ErrorKind> {
        let creds = self.ctx.credentials.as_ref().ok_or(ErrorKind::Check)?;
        let body = envelope(
            json!({"db": creds.database, "login": creds.login, "password": creds.password.expose()}),
            0,
        );
        let a = self
            .ctx
            .client
            .post_json("/web/session/authenticate", body, None)
            .await?;
        match (read_rpc(&a), a.session_cookie) {
            (RpcOutcome::Result(r), Some(cookie)) if r.get("uid").is_some_and(|u| u.is_i64()) => {
                Ok(UserSession {
                    cookie,
                    uid: r["uid"].clone(),
                })
            }
            (RpcOutcome::Error(e), _) => Err(e),
            _ => Err(ErrorKind::Check),
        }
    }

    async fn record(&mut self, step: usize, sent: Instant, error: Option<ErrorKind>) {
        let end = Instant::now();
        let sample = Sample {
            step,
            intended: self.ctx.since_t0(self.next_intended),
            sent: self.ctx.since_t0(sent),
            end: self.ctx.since_t0(end),
            error,
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
        let mut outcome = self.send(step, slots).await;
        if matches!(outcome, Outcome::Expired) && has_user {
            self.ctx.emit(Event::Reauthenticated);
            // A re-login inside a step: its time belongs to the step that needed it.
            *session = self.login().await.ok();
            if let Some(s) = session {
                self.cookie = Some(s.cookie.clone());
                slots[SLOT_UID] = s.uid.clone();
                outcome = self.send(step, slots).await;
            }
        }
        let error = match outcome {
            Outcome::Json(result) => save(step, &result, slots).err(),
            Outcome::Page(body) => match &step.expect_text {
                Some(text) if !body.contains(text.as_str()) => Some(ErrorKind::Check),
                _ => None,
            },
            Outcome::Expired => Some(ErrorKind::SessionExpired),
            Outcome::Failed(e) => Some(e),
        };
        let ok = error.is_none();
        self.record(step.id, sent, error).await;
        self.next_intended += step.think;
        ok
    }

    async fn send(&mut self, step: &Step, slots: &[Value]) -> Outcome {
        let client = &self.ctx.client;
        let cookie = self.cookie.as_deref();
        let answer = match &step.call {
            Call::CallKw {
                path,
                model,
                method,
                args,
                kwargs,
            } => {
                let params = json!({"model": model, "method": method, "args": args.render(slots), "kwargs": kwargs.render(slots)});
                client
                    .post_json(path, envelope(params, step.id as u64), cookie)
                    .await
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
                client
                    .post_json("/jsonrpc", envelope(params, step.id as u64), cookie)
                    .await
            }
            Call::JsonRpc { path, params } => {
                client
                    .post_json(
                        &path.render_string(slots),
                        envelope(params.render(slots), step.id as u64),
                        cookie,
                    )
                    .await
            }
            Call::Http { path } => {
                return match client.get(&path.render_string(slots), cookie).await {
                    Ok(a) => {
                        self.keep_cookie(a.session_cookie);
                        if (200..400).contains(&a.status) {
                            Outcome::Page(String::from_utf8_lossy(&a.body).into_owned())
                        } else {
                            Outcome::Failed(ErrorKind::Http(a.status))
                        }
                    }
                    Err(e) => Outcome::Failed(e),
                };
            }
        };
        match answer {
            Ok(a) => {
                let outcome = read_rpc(&a);
                self.keep_cookie(a.session_cookie);
                match outcome {
                    RpcOutcome::Result(v) => Outcome::Json(v),
                    RpcOutcome::SessionExpired => Outcome::Expired,
                    RpcOutcome::Error(e) => Outcome::Failed(e),
                }
            }
            Err(e) => Outcome::Failed(e),
        }
    }

    /// A public visitor keeps the session the server gives it (e.g. for its cart).
    fn keep_cookie(&mut self, cookie: Option<String>) {
        if let Some(c) = cookie {
            self.cookie = Some(c);
        }
    }
}

enum Outcome {
    Json(Value),
    Page(String),
    Expired,
    Failed(ErrorKind),
}

/// Keeps the values a step saves; a missing one fails the step's check.
fn save(step: &Step, result: &Value, slots: &mut [Value]) -> Result<(), ErrorKind> {
    for (slot, pointer) in &step.save {
        match result.pointer(pointer) {
            Some(v) => slots[*slot] = v.clone(),
            None => return Err(ErrorKind::Check),
        }
    }
    Ok(())
}
