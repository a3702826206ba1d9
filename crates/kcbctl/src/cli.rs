//! Command-line parsing (`clap`, derive), into [`Command`].

use clap::error::ErrorKind;
use clap::{Arg, ArgAction, ArgMatches};
use kcb_proto::{MAX_FLOOD_COUNT, SourceId};

use crate::Error;
use crate::filter::{EventFilter, now_ticks, parse_since, parse_source};

/// Usage text.
pub const USAGE: &str = "\
usage: kcbctl <command> [options]       (kcbctl <command> --help: its options)
  report                       what the driver registered, per API, with NTSTATUS
  status [-j|--json]           service state, registrations, per-source counters, ring,
                               cost of the notify routines, configuration; --json: one
                               JSON object
  events [-f|--follow] [-j|--json] [filters] [--output FILE]
                               read events (until none is left, or until Ctrl-C with
                               --follow); --json: one JSON object per line; filters:
                               --source NAME (repeatable), --pid N, --tid N,
                               --image TEXT, --since TIME|30s|5m|2h, --count N
  notify <arg1> <arg2>         ExNotifyCallback on the driver's callback object
                               (u64 arguments, decimal or 0x hex)
  flood <count>                push <count> synthetic records (test switch EnableFlood)
  callbacks [--registrations]  the named callback objects the driver observes
  decode-dump [-j|--json] [filters] [--output FILE] <file>
                               print the events of a flight-recorder blob saved from a
                               crash dump (the same filters as events)
  help [<command>]             this text, or a command's options (--version: the version)";

/// A parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `report`: what the driver registered.
    Report,
    /// `status`: report, counters, cost and configuration.
    Status {
        /// One JSON object.
        json: bool,
    },
    /// `events`: read and print events.
    Events {
        /// One JSON object per line.
        json: bool,
        /// Keep polling until Ctrl-C.
        follow: bool,
        /// Filters and output file.
        options: EventsOptions,
    },
    /// `notify`: `IOCTL_KCB_NOTIFY`.
    Notify {
        /// `Argument1`.
        argument1: u64,
        /// `Argument2`.
        argument2: u64,
    },
    /// `flood`: `IOCTL_KCB_FLOOD`.
    Flood {
        /// Records to push, `1..=MAX_FLOOD_COUNT`.
        count: u32,
    },
    /// `callbacks`: `IOCTL_KCB_LIST_CALLBACK_OBJECTS`.
    Callbacks {
        /// Also show the registrations on each object, if the protocol carries them.
        registrations: bool,
    },
    /// `decode-dump`: decode a flight-recorder blob file (no driver needed).
    DecodeDump {
        /// The file.
        path: String,
        /// One JSON object per line.
        json: bool,
        /// Filters and output file, as for `events`.
        options: EventsOptions,
    },
    /// `help`, `-h`, `--help` (`help <command>` is that command's `--help`).
    Help,
    /// Text the parser produced: a command's `--help`, or `--version`.
    Show(String),
}

/// The options of `events` (beyond `--json` / `--follow`) and of
/// `decode-dump`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventsOptions {
    /// Which records are printed.
    pub filter: EventFilter,
    /// Append to this file instead of printing on stdout.
    pub output: Option<String>,
}

impl Command {
    /// Whether the command talks to the driver.
    #[must_use]
    pub const fn needs_driver(&self) -> bool {
        !matches!(self, Self::DecodeDump { .. } | Self::Help | Self::Show(_))
    }
}

fn usage(why: impl Into<String>) -> Error {
    Error::Usage(why.into())
}

/// Parses an unsigned number: decimal, or hex with a `0x` / `0X` prefix.
///
/// # Errors
/// [`Error::Usage`] naming `what`.
pub fn parse_u64(text: &str, what: &str) -> Result<u64, Error> {
    let parsed = text
        .strip_prefix("0x")
        .or_else(|| text.strip_prefix("0X"))
        .map_or_else(|| text.parse::<u64>(), |hex| u64::from_str_radix(hex, 16));
    // `from_str_radix` accepts a leading `+`: refuse it, and anything else odd.
    match parsed {
        Ok(value) if !text.contains('+') => Ok(value),
        _ => Err(usage(format!(
            "{what}: `{text}` is not an unsigned 64-bit number (decimal or 0x hex)"
        ))),
    }
}

/// The command line as `clap` sees it (builder API: `clap_derive` expands
/// to `#[allow(clippy::restriction)]`, which the workspace's `forbid` lints
/// refuse).
fn cli() -> clap::Command {
    let json = || {
        Arg::new("json")
            .short('j')
            .long("json")
            .action(ArgAction::SetTrue)
    };
    clap::Command::new("kcbctl")
        .version(env!("CARGO_PKG_VERSION"))
        .about("User-mode client of the kcallbacks driver")
        .disable_help_subcommand(true)
        .subcommand_required(true)
        .subcommand(clap::Command::new("report").about("What the driver registered, per API, with NTSTATUS"))
        .subcommand(
            clap::Command::new("status")
                .about(
                    "Service state, registrations, per-source counters, ring, cost of the notify routines, \
                     configuration",
                )
                .arg(json().help("One JSON object")),
        )
        .subcommand(events_command(json()))
        .subcommand(
            clap::Command::new("notify")
                .about("ExNotifyCallback on the driver's callback object")
                .arg(
                    Arg::new("arg1")
                        .value_name("ARG1")
                        .required(true)
                        .value_parser(arg_u64("notify <ARG1>"))
                        .help("Argument1 (u64, decimal or 0x hex)"),
                )
                .arg(
                    Arg::new("arg2")
                        .value_name("ARG2")
                        .required(true)
                        .value_parser(arg_u64("notify <ARG2>"))
                        .help("Argument2 (u64, decimal or 0x hex)"),
                ),
        )
        .subcommand(
            clap::Command::new("flood")
                .about("Push COUNT synthetic records (test switch EnableFlood)")
                .arg(
                    Arg::new("count")
                        .value_name("COUNT")
                        .required(true)
                        .value_parser(flood_count)
                        .help("Records to push, 1..=1000000 (decimal or 0x hex)"),
                ),
        )
        .subcommand(
            clap::Command::new("callbacks")
                .about("The named callback objects the driver observes")
                .arg(
                    Arg::new("registrations")
                        .long("registrations")
                        .action(ArgAction::SetTrue)
                        .help("Also the routines registered on each object"),
                ),
        )
        .subcommand(
            filter_args(
                clap::Command::new("decode-dump")
                    .about("Print the events of a flight-recorder blob saved from a crash dump")
                    .arg(json().help("One JSON object per line")),
                "Append the events to FILE instead of stdout",
            )
            .arg(
                Arg::new("file")
                    .value_name("FILE")
                    .required(true)
                    .help("The blob file"),
            ),
        )
}

/// `events` and its options.
fn events_command(json: Arg) -> clap::Command {
    let command = clap::Command::new("events")
        .about("Read events (until none is left, or until Ctrl-C with --follow)")
        .arg(json.help("One JSON object per line"))
        .arg(
            Arg::new("follow")
                .short('f')
                .long("follow")
                .action(ArgAction::SetTrue)
                .help("Keep polling until Ctrl-C"),
        );
    filter_args(
        command,
        "Append the events to FILE instead of stdout (flushed per line with --follow)",
    )
}

/// The filters and `--output`, shared by `events` and `decode-dump`.
fn filter_args(command: clap::Command, output_help: &'static str) -> clap::Command {
    command
        .arg(
            Arg::new("source")
                .long("source")
                .value_name("NAME")
                .action(ArgAction::Append)
                .value_parser(parse_source)
                .help("Only events of this source (repeatable; names as kcbctl prints them, any case)"),
        )
        .arg(
            Arg::new("pid")
                .long("pid")
                .value_name("PID")
                .value_parser(arg_u64("--pid"))
                .help("Only events of this process id"),
        )
        .arg(
            Arg::new("tid")
                .long("tid")
                .value_name("TID")
                .value_parser(arg_u64("--tid"))
                .help("Only events of this thread id"),
        )
        .arg(
            Arg::new("image").long("image").value_name("TEXT").help(
                "Only events with a name field (image, path, command line...) containing TEXT, any case",
            ),
        )
        .arg(
            Arg::new("since")
                .long("since")
                .value_name("TIME")
                .value_parser(since)
                .help(
                    "Only events at or after TIME: RFC 3339 UTC (2024-05-01T12:00:00Z) or a duration \
                             before now (30s, 5m, 2h, 1d)",
                ),
        )
        .arg(
            Arg::new("count")
                .long("count")
                .value_name("N")
                .value_parser(clap::value_parser!(u64).range(1..))
                .help("Stop after N matching events"),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_name("FILE")
                .help(output_help),
        )
}

fn arg_u64(what: &'static str) -> impl Fn(&str) -> Result<u64, String> + Clone + Send + Sync + 'static {
    move |text| parse_u64(text, what).map_err(why)
}

/// The message of an [`Error::Usage`] (without the usage text).
fn why(error: Error) -> String {
    match error {
        Error::Usage(why) => why,
        other => other.to_string(),
    }
}

fn flood_count(text: &str) -> Result<u32, String> {
    let value = parse_u64(text, "flood <COUNT>").map_err(why)?;
    match u32::try_from(value) {
        Ok(count) if (1..=MAX_FLOOD_COUNT).contains(&count) => Ok(count),
        _ => Err(format!("{value} is out of range 1..={MAX_FLOOD_COUNT}")),
    }
}

fn since(text: &str) -> Result<u64, String> {
    parse_since(text, now_ticks())
}

/// A `clap` error as [`Error::Usage`] (its message and the command's usage
/// line; the general usage text is added when displayed).
fn clap_usage(error: &clap::Error) -> Error {
    let rendered = error.render().to_string();
    let lines: Vec<&str> = rendered
        .lines()
        .map(str::trim_end)
        .filter(|line| {
            !line.is_empty() && !line.starts_with("For more information") && !line.starts_with("Usage:")
        })
        .collect();
    let text = lines.join("\n");
    usage(text.strip_prefix("error: ").unwrap_or(&text))
}

/// Parses arguments (without the program name).
///
/// # Errors
/// [`Error::Usage`] for anything that is not a valid command line; it
/// names the bad argument.
pub fn parse_args(args: &[String]) -> Result<Command, Error> {
    match args.first().map(String::as_str) {
        None => return Err(usage("no command given")),
        Some("help" | "-h" | "--help" | "/?") if args.len() == 1 => return Ok(Command::Help),
        Some("help") => return help_for(&args[1..]),
        Some(_) => {}
    }
    parse_command(args)
}

/// `kcbctl help <command>`: the command's `--help`.
fn help_for(rest: &[String]) -> Result<Command, Error> {
    match rest {
        [command] if command == "help" => Ok(Command::Help),
        [command] => parse_command(&[command.clone(), "--help".to_owned()]),
        _ => Err(usage(format!(
            "help takes one command, got {}: `{}`",
            rest.len(),
            rest.join(" ")
        ))),
    }
}

/// Parses a command line that starts with a command name.
fn parse_command(args: &[String]) -> Result<Command, Error> {
    let matches =
        match cli().try_get_matches_from(std::iter::once("kcbctl").chain(args.iter().map(String::as_str))) {
            Ok(matches) => matches,
            Err(error) if matches!(error.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
                return Ok(Command::Show(error.render().to_string()));
            }
            Err(error) => return Err(clap_usage(&error)),
        };
    let Some((name, sub)) = matches.subcommand() else {
        return Err(usage("no command given"));
    };
    let flag = |id: &str| sub.get_flag(id);
    let number = |id: &str| sub.get_one::<u64>(id).copied();
    let text = |id: &str| sub.get_one::<String>(id).cloned();
    Ok(match name {
        "report" => Command::Report,
        "status" => Command::Status { json: flag("json") },
        "events" => Command::Events {
            json: flag("json"),
            follow: flag("follow"),
            options: events_options(sub),
        },
        "notify" => Command::Notify {
            argument1: number("arg1").unwrap_or_default(),
            argument2: number("arg2").unwrap_or_default(),
        },
        "flood" => Command::Flood {
            count: sub.get_one::<u32>("count").copied().unwrap_or_default(),
        },
        "callbacks" => Command::Callbacks {
            registrations: flag("registrations"),
        },
        "decode-dump" => Command::DecodeDump {
            path: text("file").unwrap_or_default(),
            json: flag("json"),
            options: events_options(sub),
        },
        other => return Err(usage(format!("unknown command `{other}`"))),
    })
}

fn events_options(sub: &ArgMatches) -> EventsOptions {
    EventsOptions {
        filter: EventFilter {
            sources: sub
                .get_many::<SourceId>("source")
                .map(|sources| sources.copied().collect())
                .unwrap_or_default(),
            pid: sub.get_one::<u64>("pid").copied(),
            tid: sub.get_one::<u64>("tid").copied(),
            image: sub.get_one::<String>("image").map(|text| text.to_lowercase()),
            since: sub.get_one::<u64>("since").copied(),
            count: sub.get_one::<u64>("count").copied(),
        },
        output: sub.get_one::<String>("output").cloned(),
    }
}
