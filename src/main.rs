//! wsbox: run desktop applications confined. The command line lives in the
//! library (`wsbox::command`), beside the API it is a client of.

fn main() -> std::process::ExitCode {
    wsbox::command::main()
}
