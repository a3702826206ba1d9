//! Command-line parsing.

use kcb_proto::MAX_FLOOD_COUNT;

use crate::Error;

/// Usage text.
pub const USAGE: &str = "\
usage: kcbctl <command>
  report                       what the driver registered, per API, with NTSTATUS
  status [--json]              registrations, per-source counters, ring, cost of the
                               notify routines, configuration; --json: one JSON object
  events [--follow] [--json]   read events (until none is left, or until Ctrl-C with
                               --follow); --json: one JSON object per line
  notify <arg1> <arg2>         ExNotifyCallback on the driver's callback object
                               (u64 arguments, decimal or 0x hex)
  flood <count>                push <count> synthetic records (test switch EnableFlood)
  callbacks [--registrations]  the named callback objects the driver observes
  decode-dump [--json] <file>  print the events of a flight-recorder blob saved from a
                               crash dump
  help                         this text";

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
    },
    /// `help`, `-h`, `--help`.
    Help,
}

impl Command {
    /// Whether the command talks to the driver.
    #[must_use]
    pub const fn needs_driver(&self) -> bool {
        !matches!(self, Self::DecodeDump { .. } | Self::Help)
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

/// Collects `--flags` (each allowed once) and positional arguments.
fn split_options<'a>(rest: &'a [String], allowed: &[&str]) -> Result<(Vec<&'a str>, Vec<&'a str>), Error> {
    let mut flags: Vec<&str> = Vec::new();
    let mut positional = Vec::new();
    let mut only_positional = false;
    for arg in rest {
        let arg = arg.as_str();
        if only_positional || !arg.starts_with("--") {
            positional.push(arg);
        } else if arg == "--" {
            only_positional = true;
        } else if !allowed.contains(&arg) {
            return Err(usage(format!("unknown option {arg}")));
        } else if flags.contains(&arg) {
            return Err(usage(format!("option {arg} given twice")));
        } else {
            flags.push(arg);
        }
    }
    Ok((flags, positional))
}

fn no_positional(command: &str, positional: &[&str]) -> Result<(), Error> {
    positional.first().map_or(Ok(()), |extra| {
        Err(usage(format!("`{command}` takes no argument `{extra}`")))
    })
}

/// Parses arguments (without the program name).
///
/// # Errors
/// [`Error::Usage`] for anything that is not a valid command line.
pub fn parse_args(args: &[String]) -> Result<Command, Error> {
    let (first, rest) = args.split_first().ok_or_else(|| usage("no command given"))?;
    let command = first.as_str();
    match command {
        "help" | "-h" | "--help" | "/?" => Ok(Command::Help),
        "report" => {
            let (_, positional) = split_options(rest, &[])?;
            no_positional(command, &positional)?;
            Ok(Command::Report)
        }
        "status" => {
            let (flags, positional) = split_options(rest, &["--json"])?;
            no_positional(command, &positional)?;
            Ok(Command::Status {
                json: flags.contains(&"--json"),
            })
        }
        "events" => {
            let (flags, positional) = split_options(rest, &["--json", "--follow"])?;
            no_positional(command, &positional)?;
            Ok(Command::Events {
                json: flags.contains(&"--json"),
                follow: flags.contains(&"--follow"),
            })
        }
        "notify" => {
            let (_, positional) = split_options(rest, &[])?;
            let [a1, a2] = positional[..] else {
                return Err(usage("`notify` takes exactly two arguments: <arg1> <arg2>"));
            };
            Ok(Command::Notify {
                argument1: parse_u64(a1, "notify <arg1>")?,
                argument2: parse_u64(a2, "notify <arg2>")?,
            })
        }
        "flood" => {
            let (_, positional) = split_options(rest, &[])?;
            let [count] = positional[..] else {
                return Err(usage("`flood` takes exactly one argument: <count>"));
            };
            let value = parse_u64(count, "flood <count>")?;
            match u32::try_from(value) {
                Ok(count) if (1..=MAX_FLOOD_COUNT).contains(&count) => Ok(Command::Flood { count }),
                _ => Err(usage(format!(
                    "flood <count>: {value} is out of range 1..={MAX_FLOOD_COUNT}"
                ))),
            }
        }
        "callbacks" => {
            let (flags, positional) = split_options(rest, &["--registrations"])?;
            no_positional(command, &positional)?;
            Ok(Command::Callbacks {
                registrations: flags.contains(&"--registrations"),
            })
        }
        "decode-dump" => {
            let (flags, positional) = split_options(rest, &["--json"])?;
            let [path] = positional[..] else {
                return Err(usage("`decode-dump` takes exactly one file"));
            };
            Ok(Command::DecodeDump {
                path: path.to_owned(),
                json: flags.contains(&"--json"),
            })
        }
        other => Err(usage(format!("unknown command `{other}`"))),
    }
}
