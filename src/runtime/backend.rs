//! The one place where a stage's implementation is chosen. Each stage is built only when the
//! command needs it (`poll` opens no store; `show` opens no queue); on AWS the SDK clients are
//! built on a stage's first call, from one shared [`Aws`] per process.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use crate::alert::ledger::AlertLedger;
use crate::alert::ledger::dynamodb::DynamoDbLedger;
use crate::alert::ledger::local::LocalLedger;
use crate::aws::Aws;
use crate::config::Pipeline;
use crate::naming::{alert_table, database_path, queue_name};
use crate::notify::outbox::Outbox;
use crate::notify::ses::Ses;
use crate::notify::smtp::Smtp;
use crate::notify::{Notifier, NotifyError};
use crate::queue::local::LocalQueue;
use crate::queue::sqs::{DeadLetters, SqsQueue};
use crate::queue::{Queue, QueueCounts, QueueError};
use crate::resources::default_visibility;
use crate::source::status::FeedStatusStore;
use crate::source::status::dynamodb::DynamoDbFeedStatus;
use crate::source::status::local::LocalFeedStatus;
use crate::store::dynamodb::DynamoDbStore;
use crate::store::local::LocalStore;
use crate::store::{Store, StoreError};

/// Where the stages run (`--backend`, resolved by `crate::settings`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BackendKind {
    /// Embedded: a SQLite file per pipeline under the state directory, e-mails as `.eml` files.
    #[default]
    Local,
    /// AWS: SQS, DynamoDB and SES v2, configured by the standard AWS environment (`AWS_REGION`,
    /// credentials or a profile, `AWS_ENDPOINT_URL` for moto or LocalStack).
    Aws,
}

/// How the backend is set up, from the command line.
#[derive(Clone, Debug)]
pub struct Backend {
    /// Which implementations to use.
    pub kind: BackendKind,
    /// Directory of the local database files and the outbox.
    pub state_dir: PathBuf,
    /// Send e-mail through this SMTP server instead of the outbox.
    pub smtp: Option<String>,
    /// How long a received message stays invisible to other consumers; default: the batch
    /// window plus 30 s, so a batch being gathered is not handed out twice (on AWS: the queue's
    /// own setting, which `stockrun init` makes that).
    pub visibility_timeout: Option<Duration>,
    /// The AWS clients of this process (built on first use; unused by the local backend).
    pub aws: Arc<Aws>,
}

/// Why a stage could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The queue could not be opened.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The store could not be opened.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// AWS is not set up (no region, no credentials, an unreachable endpoint).
    #[error(transparent)]
    AwsSetup(#[from] crate::aws::SetupError),
    /// A command that reads state found none.
    #[error(
        "pipeline `{pipeline}` has no local state: {} does not exist. Run it first (`stockrun run FILE --once`), or pass the --state-dir it ran with",
        database.display()
    )]
    NoState {
        /// The pipeline's name.
        pipeline: String,
        /// The database file looked for.
        database: PathBuf,
    },
    /// `--visibility-timeout` would let a batch being gathered be handed out again.
    #[error(
        "--visibility-timeout {} must be longer than the pipeline's batch_window ({}): messages are held that long while a batch fills",
        humantime::format_duration(*visibility),
        humantime::format_duration(*window)
    )]
    VisibilityTooShort {
        /// The timeout given.
        visibility: Duration,
        /// The pipeline's batch window.
        window: Duration,
    },
}

impl Backend {
    /// On AWS, checks once that AWS can be used at all ([`Aws::check`]), so that a missing
    /// region, missing credentials or an unreachable endpoint is one clear error before any
    /// stage starts; nothing on the local backend.
    pub async fn ready(&self) -> Result<(), BackendError> {
        match self.kind {
            BackendKind::Local => Ok(()),
            BackendKind::Aws => Ok(self.aws.check().await?),
        }
    }

    /// The queue between poller and consumer.
    pub fn queue(&self, pipeline: &Pipeline) -> Result<Arc<dyn Queue>, BackendError> {
        let visibility = self.visibility_timeout(pipeline)?;
        match self.kind {
            BackendKind::Local => Ok(Arc::new(LocalQueue::open(
                &self.database(pipeline),
                &queue_name(pipeline),
                visibility,
                *pipeline.queue.max_receive_count,
            )?)),
            // Only an explicit --visibility-timeout overrides the queue's own (set by `init`).
            BackendKind::Aws => Ok(Arc::new(SqsQueue::new(
                Arc::clone(&self.aws),
                pipeline,
                self.visibility_timeout,
            ))),
        }
    }

    /// How long a received message stays hidden: `--visibility-timeout` (longer than the batch
    /// window), else [`default_visibility`] (the batch window plus the processing allowance).
    pub fn visibility_timeout(&self, pipeline: &Pipeline) -> Result<Duration, BackendError> {
        let window = pipeline.queue.batch_window.value.0;
        match self.visibility_timeout {
            Some(visibility) if visibility <= window => {
                Err(BackendError::VisibilityTooShort { visibility, window })
            }
            Some(visibility) => Ok(visibility),
            None => Ok(default_visibility(pipeline)),
        }
    }

    /// Up to `max` dead letters, the newest first, and how many there are: the local queue's
    /// dead-letter table of a pipeline that has run, or on AWS a look at the SQS dead-letter
    /// queue that leaves every message in it (`queue::sqs::peek`).
    pub async fn dead_letters(
        &self,
        pipeline: &Pipeline,
        max: usize,
    ) -> Result<DeadLetters, BackendError> {
        match self.kind {
            BackendKind::Local => {
                let database = self.existing_database(pipeline)?;
                let queue = LocalQueue::open_existing(&database, &queue_name(pipeline))?;
                let all = queue.dead_letters().await?;
                Ok(DeadLetters {
                    total: all.len() as u64,
                    letters: all.into_iter().rev().take(max).collect(),
                })
            }
            BackendKind::Aws => Ok(SqsQueue::new(Arc::clone(&self.aws), pipeline, None)
                .peek_dead_letters(max)
                .await?),
        }
    }

    /// The queue's counts of a pipeline that has run: the local queue's, or SQS's approximate
    /// ones (for `serve`).
    pub async fn queue_counts(&self, pipeline: &Pipeline) -> Result<QueueCounts, BackendError> {
        match self.kind {
            BackendKind::Local => {
                let database = self.existing_database(pipeline)?;
                let queue = LocalQueue::open_existing(&database, &queue_name(pipeline))?;
                Ok(queue.counts().await?)
            }
            BackendKind::Aws => Ok(SqsQueue::new(Arc::clone(&self.aws), pipeline, None)
                .counts()
                .await?),
        }
    }

    /// The store of a pipeline that has run, for reading it.
    pub fn existing_store(&self, pipeline: &Pipeline) -> Result<Arc<dyn Store>, BackendError> {
        self.open_store(pipeline, || {
            let database = self.existing_database(pipeline)?;
            Ok(LocalStore::open_existing(
                &database,
                &pipeline.store.table,
                &pipeline.store.inserted_at,
            )?)
        })
    }

    /// On the local backend, the pipeline's database file when it does not exist yet (nothing
    /// has run with this state directory); `None` when it exists, or on AWS.
    pub fn missing_local_state(&self, pipeline: &Pipeline) -> Option<PathBuf> {
        let database = self.database(pipeline);
        (self.kind == BackendKind::Local && !database.is_file()).then_some(database)
    }

    /// Requests sent to AWS so far, when the backend is AWS (for the run summary).
    pub fn aws_requests(&self) -> Option<u64> {
        (self.kind == BackendKind::Aws).then(|| self.aws.requests())
    }

    fn database(&self, pipeline: &Pipeline) -> PathBuf {
        database_path(&self.state_dir, &pipeline.name)
    }

    fn existing_database(&self, pipeline: &Pipeline) -> Result<PathBuf, BackendError> {
        let database = self.database(pipeline);
        if database.is_file() {
            Ok(database)
        } else {
            Err(BackendError::NoState {
                pipeline: pipeline.name.value.clone(),
                database,
            })
        }
    }

    /// The table records are written to.
    pub fn store(&self, pipeline: &Pipeline) -> Result<Arc<dyn Store>, StoreError> {
        self.open_store(pipeline, || {
            LocalStore::open(
                &self.database(pipeline),
                &pipeline.store.table,
                &pipeline.store.inserted_at,
            )
        })
    }

    /// Where the alert rules keep series state and the alert ledger: beside the records, in the
    /// pipeline's database file or its alert table (`naming::alert_table`).
    pub fn alert_ledger(&self, pipeline: &Pipeline) -> Result<Arc<dyn AlertLedger>, StoreError> {
        match self.kind {
            BackendKind::Local => Ok(Arc::new(LocalLedger::open(
                &self.database(pipeline),
                &pipeline.store.table,
            )?)),
            BackendKind::Aws => Ok(Arc::new(DynamoDbLedger::new(
                Arc::clone(&self.aws),
                &alert_table(&pipeline.store.table),
            ))),
        }
    }

    /// Where the poller records each feed's last poll (`source::status`): a table in the
    /// pipeline's database file, or items of its alert table (`naming::alert_table`).
    pub fn feed_status(&self, pipeline: &Pipeline) -> Result<Arc<dyn FeedStatusStore>, StoreError> {
        match self.kind {
            BackendKind::Local => Ok(Arc::new(LocalFeedStatus::open(&self.database(pipeline))?)),
            BackendKind::Aws => Ok(self.aws_feed_status(pipeline)),
        }
    }

    /// The feed status of a pipeline that has run, for reading it (`serve`): the local database
    /// is opened read-only.
    pub fn existing_feed_status(
        &self,
        pipeline: &Pipeline,
    ) -> Result<Arc<dyn FeedStatusStore>, BackendError> {
        match self.kind {
            BackendKind::Local => Ok(Arc::new(LocalFeedStatus::open_existing(
                &self.existing_database(pipeline)?,
            )?)),
            BackendKind::Aws => Ok(self.aws_feed_status(pipeline)),
        }
    }

    fn aws_feed_status(&self, pipeline: &Pipeline) -> Arc<dyn FeedStatusStore> {
        Arc::new(DynamoDbFeedStatus::new(
            Arc::clone(&self.aws),
            &alert_table(&pipeline.store.table),
        ))
    }

    /// The pipeline's store: on the local backend what `open_local` opens, on AWS its table.
    fn open_store<E>(
        &self,
        pipeline: &Pipeline,
        open_local: impl FnOnce() -> Result<LocalStore, E>,
    ) -> Result<Arc<dyn Store>, E> {
        match self.kind {
            BackendKind::Local => Ok(Arc::new(open_local()?)),
            BackendKind::Aws => Ok(Arc::new(DynamoDbStore::new(
                Arc::clone(&self.aws),
                pipeline,
            ))),
        }
    }

    /// The e-mail sender, when the pipeline has a `notify` section.
    pub fn notifier(&self, pipeline: &Pipeline) -> Result<Option<Arc<dyn Notifier>>, NotifyError> {
        if pipeline.notify.is_none() {
            return Ok(None);
        }
        if let Some(url) = &self.smtp {
            return Ok(Some(Arc::new(Smtp::new(url)?)));
        }
        match self.kind {
            BackendKind::Local => Ok(Some(Arc::new(Outbox::new(
                &self.outbox_dir(),
                &pipeline.name,
            )))),
            BackendKind::Aws => Ok(Some(Arc::new(Ses::new(Arc::clone(&self.aws))))),
        }
    }

    /// Where e-mails go, in words, for the run summary.
    pub fn emails_destination(&self) -> String {
        match (&self.smtp, self.kind) {
            (Some(url), _) => format!("via {}", crate::notify::smtp::server_of(url)),
            (None, BackendKind::Aws) => "via SES".to_owned(),
            (None, BackendKind::Local) => format!("in {}/", self.outbox_dir().display()),
        }
    }

    fn outbox_dir(&self) -> PathBuf {
        self.state_dir.join("outbox")
    }
}
