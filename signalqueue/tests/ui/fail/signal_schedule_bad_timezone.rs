use signalqueue::async_signal;

#[async_signal(schedule = "0 9 * * *", timezone = "Europe/Pariss")]
pub static MORNING_REPORT: MorningReport;

fn main() {}
