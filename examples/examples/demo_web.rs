//! Run with: `cargo run -p examples --example demo_web` (then `cargo run -p signalqueue-worker`, and open http://127.0.0.1:3000/).
//!
//! The original README's story as a web app: a checkout form whose submission saves an order
//! in the demo database and sends `FORM_SUBMIT` with a reference to it, then answers at once
//! (a redirect to the order list). The worker loads the order and runs the slow
//! `update_event_log`; the event log page (`/events`) polls `/events.json` and shows the line
//! appear. Listens on the first argument, or `DEMO_ADDR`, or 127.0.0.1:3000 (`127.0.0.1:0`
//! picks a free port; the address is printed either way). Queues come from signalqueue.toml /
//! `SIGNALQUEUE_URL` as for every process (the embedded `sqlite://signalqueue.db` by default).

use std::fmt::Write as _;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Form, Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use examples::{money, DemoDb, Event, Order, ITEMS};
use serde::Deserialize;

#[tokio::main]
async fn main() -> ExitCode {
    // Not `main() -> Result`: that prints the error's `Debug` form (`Config { origin: ... }`);
    // a user should read its message.
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), signalqueue::BoxError> {
    // Configuration errors (a bad SIGNALQUEUE_URL) stop us here.
    let runtime = signalqueue::init().await?;
    // Opening a Redis queue does not connect, so an unreachable one would only show at the
    // first checkout: ping the queues now and stop with what to do. Not with an `[outbox]`:
    // then checkouts save their signals in the app's database and a worker relays them once
    // the queue is back, so working while Redis is down is the point.
    if runtime.outboxes().is_empty() {
        for (name, engine) in runtime.queues() {
            let ping = tokio::time::timeout(Duration::from_secs(5), engine.ping()).await;
            let why = match ping {
                Ok(Ok(())) => continue,
                Ok(Err(e)) => e.to_string(),
                Err(_) => "no answer within 5 s".to_string(),
            };
            return Err(format!(
                "queue `{name}` ({}) is unreachable: {why}; start it, point SIGNALQUEUE_URL (or signalqueue.toml) at a running one, or configure an `[outbox]` to take orders while it is down",
                signalqueue::engine::redact_url(&engine.describe())
            )
            .into());
        }
    }
    let db = DemoDb::get().await?;
    let addr = std::env::args()
        .nth(1)
        .or_else(|| std::env::var("DEMO_ADDR").ok())
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    let app = Router::new()
        .route("/", get(checkout_page))
        .route("/orders", get(orders_page).post(place_order))
        .route("/orders/{id}/cancel", post(cancel_order))
        .route("/events", get(events_page))
        .route("/events.json", get(events_json))
        .with_state(db.clone());
    eprintln!(
        "demo_web: listening on http://{}/ (orders and event log in {})",
        listener.local_addr()?,
        db.describe()
    );
    axum::serve(listener, app)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}

type Db = State<Arc<DemoDb>>;

/// A failure shown as a page: what went wrong, and the status.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        let body = format!("<p class=\"error\">{}</p>", esc(&self.1));
        (self.0, page("Something went wrong", &body)).into_response()
    }
}

fn internal(e: impl std::fmt::Display) -> Failure {
    Failure(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
}

async fn checkout_page() -> Html<String> {
    let mut options = String::new();
    for (name, cents) in ITEMS {
        let _ = write!(
            options,
            "<option value=\"{name}\">{name} ({})</option>",
            money(cents)
        );
    }
    page(
        "Checkout",
        &format!(
            r#"<form method="post" action="/orders" id="checkout">
  <label>Your name <input name="customer" required maxlength="100" autofocus></label>
  <label>Item <select name="item">{options}</select></label>
  <label>Quantity <input name="quantity" type="number" min="1" max="99" value="1" required></label>
  <button type="submit">Place order</button>
</form>
<p class="hint">Placing an order saves it and queues <code>examples.form_submit</code> with a
reference to it; this page answers at once. The worker (<code>cargo run -p signalqueue-worker</code>)
then takes a second or two to update the <a href="/events">event log</a>.</p>"#
        ),
    )
}

#[derive(Deserialize)]
struct Checkout {
    customer: String,
    item: String,
    quantity: i64,
}

async fn place_order(State(db): Db, Form(form): Form<Checkout>) -> Result<Redirect, Failure> {
    let customer = form.customer.trim().to_string();
    if customer.is_empty() || customer.chars().count() > 100 {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "give a name of 1 to 100 characters".into(),
        ));
    }
    let Some((item, price)) = ITEMS.iter().find(|(name, _)| *name == form.item) else {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            format!("there is no item called {:?}", form.item),
        ));
    };
    if !(1..=99).contains(&form.quantity) {
        return Err(Failure(
            StatusCode::BAD_REQUEST,
            "the quantity is 1 to 99".into(),
        ));
    }
    // Saves the order and queues FORM_SUBMIT (in one transaction on PostgreSQL); returns as
    // soon as the queue (or the outbox) holds the signal, long before the worker runs it.
    let (order, _signal) = db
        .checkout(
            customer,
            item.to_string(),
            form.quantity,
            price * form.quantity,
        )
        .await
        .map_err(|e| Failure(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
    Ok(Redirect::to(&format!("/orders?placed={}", order.id)))
}

#[derive(Deserialize)]
struct Placed {
    placed: Option<i64>,
}

async fn orders_page(State(db): Db, Query(q): Query<Placed>) -> Result<Html<String>, Failure> {
    let orders = db.orders().await.map_err(internal)?;
    let mut body = String::new();
    if let Some(id) = q.placed {
        let _ = write!(
            body,
            r#"<p class="flash" id="placed" data-order="{id}">Order #{id} is placed. The worker will add it to the <a href="/events">event log</a> in a moment.</p>"#
        );
    }
    if orders.is_empty() {
        body.push_str(r#"<p>No orders yet: <a href="/">place one</a>.</p>"#);
    } else {
        body.push_str(
            "<table id=\"orders\"><thead><tr><th>#</th><th>customer</th><th>item</th><th>total</th><th></th></tr></thead><tbody>",
        );
        for Order {
            id,
            customer,
            item,
            quantity,
            total_cents,
            ..
        } in &orders
        {
            let _ = write!(
                body,
                r#"<tr data-order="{id}"><td>{id}</td><td>{}</td><td>{quantity} × {}</td><td>{}</td><td><form method="post" action="/orders/{id}/cancel"><button title="Delete the order: if the worker has not got to it yet, its event log line says so">cancel</button></form></td></tr>"#,
                esc(customer),
                esc(item),
                money(*total_cents)
            );
        }
        body.push_str("</tbody></table>");
    }
    Ok(page("Orders", &body))
}

async fn cancel_order(State(db): Db, Path(id): Path<i64>) -> Result<Redirect, Failure> {
    db.cancel_order(id).await.map_err(internal)?;
    Ok(Redirect::to("/orders"))
}

async fn events_page(State(db): Db) -> Result<Html<String>, Failure> {
    let events = db.events().await.map_err(internal)?;
    let mut rows = String::new();
    for e in &events {
        rows.push_str(&event_row(e));
    }
    let body = format!(
        r#"<p class="hint">Written by the worker's <code>update_event_log</code>; this page checks for new lines every half second.</p>
<p id="empty"{hidden}>Nothing yet.</p>
<ul id="events">{rows}</ul>
<script>
// Polls the JSON view and re-renders the list: new lines appear without a reload.
const list = document.getElementById('events');
const empty = document.getElementById('empty');
const text = (s) => {{ const t = document.createElement('span'); t.textContent = s; return t.innerHTML; }};
async function refresh() {{
  try {{
    const events = await (await fetch('/events.json', {{ cache: 'no-store' }})).json();
    list.innerHTML = events.map((e) =>
      `<li data-order="${{e.order_id}}" data-event="${{e.id}}"><time>${{new Date(e.logged_at_ms).toLocaleTimeString()}}</time> ${{text(e.message)}} <small>(took ${{e.took_ms}} ms)</small></li>`
    ).join('');
    empty.hidden = events.length > 0;
    document.body.dataset.refreshed = String(Date.now());
  }} catch (e) {{
    // The web app restarting: try again at the next tick.
  }}
}}
setInterval(refresh, 500);
</script>"#,
        hidden = if events.is_empty() { "" } else { " hidden" },
    );
    Ok(page("Event log", &body))
}

fn event_row(e: &Event) -> String {
    format!(
        r#"<li data-order="{}" data-event="{}">{} <small>(took {} ms)</small></li>"#,
        e.order_id,
        e.id,
        esc(&e.message),
        e.took_ms
    )
}

async fn events_json(State(db): Db) -> Result<Json<Vec<Event>>, Failure> {
    Ok(Json(db.events().await.map_err(internal)?))
}

/// The page around `body`, with the navigation.
fn page(title: &str, body: &str) -> Html<String> {
    Html(format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title} · signalqueue demo</title>
<style>
body {{ font: 16px/1.5 system-ui, sans-serif; max-width: 46rem; margin: 2rem auto; padding: 0 1rem; }}
nav a {{ margin-right: 1rem; }} label {{ display: block; margin: .5rem 0; }}
table {{ border-collapse: collapse; width: 100%; }} td, th {{ border-bottom: 1px solid #ddd; padding: .3rem; text-align: left; }}
.flash {{ background: #e8f5e9; padding: .5rem; }} .error {{ background: #fdecea; padding: .5rem; }}
.hint {{ color: #555; }} li small {{ color: #777; }} td form {{ margin: 0; }}
</style></head>
<body><nav><a href="/">Checkout</a><a href="/orders">Orders</a><a href="/events">Event log</a></nav>
<h1>{title}</h1>
{body}
</body></html>"#
    ))
}

/// Escapes text for HTML content and double- or single-quoted attributes.
fn esc(s: &str) -> String {
    html_escape::encode_quoted_attribute(s).into_owned()
}
