//! `callrec storage ...`: object-store administration. So far, the lifecycle configuration
//! that enforces retention (applying it to a bucket arrives with S3 support).

use callrec::store::key::RetentionClass;
use callrec::store::lifecycle;

#[derive(clap::Parser)]
pub struct StorageArgs {
    #[command(subcommand)]
    command: StorageCommand,
}

#[derive(clap::Subcommand)]
enum StorageCommand {
    /// The bucket lifecycle configuration that deletes each retention class on time.
    Lifecycle(LifecycleArgs),
}

#[derive(clap::Parser)]
struct LifecycleArgs {
    /// Print the configuration (S3 PutBucketLifecycleConfiguration XML).
    #[arg(long, required = true)]
    print: bool,
    /// Retention classes to enforce (repeatable); default: 30d, the free plan's.
    #[arg(long = "class", value_name = "CLASS", default_value = "30d")]
    classes: Vec<RetentionClass>,
    /// Add prefix-filtered rules for stores that honour no tag filters.
    #[arg(long)]
    prefix_rules: bool,
}

pub fn run(args: StorageArgs) -> Result<(), String> {
    match args.command {
        StorageCommand::Lifecycle(args) => {
            print!(
                "{}",
                lifecycle::configuration(&args.classes, args.prefix_rules)
            );
            Ok(())
        }
    }
}
