//! The shared test harness: a real embedded S3 server, a real coordinator on
//! a SQLite file (or a PostgreSQL database, see [`POSTGRES_ENV`]), both on
//! 127.0.0.1:0, and tonic clients talking to it.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use sqlx::Connection as _;
use stylefarm_coordinator::{Coordinator, CoordinatorConfig, CoordinatorError, HttpServer};
use stylefarm_proto::connect::{AuthChannel, Connection};
use stylefarm_proto::pb::{
    self, admin_client::AdminClient, farm_client::FarmClient, schedules_client::SchedulesClient,
    work_client::WorkClient,
};
use stylefarm_storage::{EmbeddedS3, Store};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Code, Status};

/// Upper bound for anything a test waits for.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// The coordinator's admin token (configuration, in memory); the harness's
/// clients carry it.
pub const ADMIN: &str = "sf_admin-token-of-the-coordinator-tests";

pub struct TestFarm {
    pub farm: FarmClient<AuthChannel>,
    pub work: WorkClient<AuthChannel>,
    pub admin: AdminClient<AuthChannel>,
    pub schedules: SchedulesClient<AuthChannel>,
    /// The running coordinator itself, for what has no RPC (the schedule
    /// loop's step with a test's clock).
    pub coordinator: Coordinator,
    pub store: Store,
    pub config: CoordinatorConfig,
    pub addr: SocketAddr,
    /// Where the coordinator serves /healthz, /readyz and /metrics. It
    /// outlives [`TestFarm::stop`], so a test can ask a stopped coordinator.
    pub http: SocketAddr,
    server: Option<Server>,
    http_server: HttpServer,
    // Dropped last: the S3 server and the files (none for a peer).
    _s3: Option<EmbeddedS3>,
    _dir: Option<TempDir>,
}

struct Server {
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), CoordinatorError>>,
}

/// The environment variable naming a PostgreSQL server
/// (`postgres://USER@HOST:PORT`) to run the suite against: each farm gets a
/// new database there. Unset, each farm gets a SQLite file.
pub const POSTGRES_ENV: &str = "STYLEFARM_TEST_POSTGRES";

/// A fresh database for one test farm: a new PostgreSQL database when
/// [`POSTGRES_ENV`] names a server, else a SQLite file in `dir`.
pub async fn test_db_url(dir: &std::path::Path) -> String {
    match std::env::var(POSTGRES_ENV) {
        Ok(server) if !server.is_empty() => {
            let name = format!("farm_{}", uuid::Uuid::new_v4().simple());
            let mut admin = sqlx::PgConnection::connect(&server)
                .await
                .unwrap_or_else(|e| panic!("{POSTGRES_ENV}={server}: {e}"));
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut admin)
                .await
                .expect("create the test database");
            format!("{}/{name}", server.trim_end_matches('/'))
        }
        _ => format!("sqlite://{}", dir.join("farm.db").display()),
    }
}

fn is_postgres(url: &str) -> bool {
    url.starts_with("postgres")
}

impl TestFarm {
    pub async fn start() -> TestFarm {
        Self::start_with(|_| {}).await
    }

    /// Starts with the test defaults, changed by `tweak`.
    pub async fn start_with(tweak: impl FnOnce(&mut CoordinatorConfig)) -> TestFarm {
        let dir = tempfile::tempdir().expect("tempdir");
        let s3 = EmbeddedS3::start(&dir.path().join("s3"), "127.0.0.1:0".parse().expect("addr"))
            .await
            .expect("embedded S3 starts");
        let storage = s3.storage_config("farm", "test");
        let db = test_db_url(dir.path()).await;
        let mut config = CoordinatorConfig::new(db, storage.clone());
        config.retry_backoff = Duration::from_millis(20);
        config.admin_token = Some(ADMIN.into());
        tweak(&mut config);
        let store = Store::connect(storage).await.expect("store connects");
        let (server, addr, http_server, coordinator) = spawn(config.clone()).await;
        let (farm, work, admin) = clients(addr, Some(ADMIN)).await;
        TestFarm {
            farm,
            work,
            admin,
            schedules: schedules_client(addr, ADMIN).await,
            coordinator,
            store,
            config,
            addr,
            http: http_server.local_addr(),
            server: Some(server),
            http_server,
            _s3: Some(s3),
            _dir: Some(dir),
        }
    }

    /// Another coordinator on the same database and storage, with its own
    /// clients (several coordinators need PostgreSQL). `self` must outlive
    /// it: it holds the storage server.
    pub async fn peer(&self) -> TestFarm {
        let (server, addr, http_server, coordinator) = spawn(self.config.clone()).await;
        let (farm, work, admin) = clients(addr, Some(ADMIN)).await;
        TestFarm {
            farm,
            work,
            admin,
            schedules: schedules_client(addr, ADMIN).await,
            coordinator,
            store: self.store.clone(),
            config: self.config.clone(),
            addr,
            http: http_server.local_addr(),
            server: Some(server),
            http_server,
            _s3: None,
            _dir: None,
        }
    }

    /// Stops the coordinator gracefully and starts a new one on the same
    /// database and storage (on a new port), reconnecting the clients.
    pub async fn restart(&mut self) {
        self.stop().await;
        let (server, addr, http_server, coordinator) = spawn(self.config.clone()).await;
        let (farm, work, admin) = clients(addr, Some(ADMIN)).await;
        self.schedules = schedules_client(addr, ADMIN).await;
        self.coordinator = coordinator;
        self.server = Some(server);
        self.addr = addr;
        self.http = http_server.local_addr();
        std::mem::replace(&mut self.http_server, http_server)
            .shutdown()
            .await;
        self.farm = farm;
        self.work = work;
        self.admin = admin;
    }

    pub async fn stop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.stop.send(());
            let served = tokio::time::timeout(PATIENCE, server.task)
                .await
                .expect("coordinator stops in time");
            served.expect("serve task joins").expect("serve returns Ok");
        }
    }

    /// A new token of `role` named `name`, made with the admin token.
    pub async fn token(&self, name: &str, role: pb::Role) -> String {
        self.admin
            .clone()
            .create_token(pb::CreateTokenRequest {
                name: name.into(),
                role: role.into(),
                expires_in_seconds: 0,
            })
            .await
            .expect("token created")
            .into_inner()
            .token
    }

    /// The attempts logged for a task, read straight from the database:
    /// (attempt, worker, outcome).
    pub async fn attempts(&self, task_id: &str) -> Vec<(i64, String, String)> {
        const SQL: &str =
            "SELECT attempt, worker_id, outcome FROM attempts WHERE task_id = $1 ORDER BY attempt";
        let url = &self.config.db_url;
        if is_postgres(url) {
            let mut db = sqlx::PgConnection::connect(url).await.expect("open db");
            let q = sqlx::query_as(SQL).bind(task_id);
            q.fetch_all(&mut db).await.expect("read attempts")
        } else {
            let mut db = sqlx::SqliteConnection::connect(url).await.expect("open db");
            let q = sqlx::query_as(SQL).bind(task_id);
            q.fetch_all(&mut db).await.expect("read attempts")
        }
    }

    /// Runs `sql`, with `value` bound to `$1`, straight on the database (a
    /// test's way to stage what no RPC does).
    pub async fn execute_sql(&self, sql: &str, value: i64) {
        let url = &self.config.db_url;
        if is_postgres(url) {
            let mut db = sqlx::PgConnection::connect(url).await.expect("open db");
            let q = sqlx::query(sql).bind(value);
            q.execute(&mut db).await.expect("statement runs");
        } else {
            let mut db = sqlx::SqliteConnection::connect(url).await.expect("open db");
            let q = sqlx::query(sql).bind(value);
            q.execute(&mut db).await.expect("statement runs");
        }
    }

    pub async fn upload(&self, file_name: &str, data: &[u8]) -> pb::UploadInputResponse {
        self.try_upload(file_name, data, 64 << 10)
            .await
            .expect("upload succeeds")
    }

    /// Uploads `data` in chunks of `chunk` bytes.
    pub async fn try_upload(
        &self,
        file_name: &str,
        data: &[u8],
        chunk: usize,
    ) -> Result<pb::UploadInputResponse, Status> {
        let mut chunks: Vec<pb::UploadChunk> = data
            .chunks(chunk.max(1))
            .map(|c| pb::UploadChunk {
                data: c.to_vec(),
                ..Default::default()
            })
            .collect();
        if chunks.is_empty() {
            chunks.push(pb::UploadChunk::default());
        }
        chunks[0].file_name = file_name.to_owned();
        let response = self
            .farm
            .clone()
            .upload_input(tokio_stream::iter(chunks))
            .await?;
        Ok(response.into_inner())
    }

    /// Uploads a content and a style image; returns a valid single-job spec
    /// using them.
    pub async fn valid_spec(&self) -> pb::JobSpec {
        let content = self
            .upload("content.png", b"content pixels")
            .await
            .input_key;
        let style = self.upload("style.jpg", b"style pixels").await.input_key;
        spec(&content, &style)
    }

    pub async fn submit(&self, spec: pb::JobSpec) -> String {
        self.try_submit(spec).await.expect("submit succeeds")
    }

    pub async fn try_submit(&self, spec: pb::JobSpec) -> Result<String, Status> {
        let request = pb::SubmitJobRequest { spec: Some(spec) };
        Ok(self
            .farm
            .clone()
            .submit_job(request)
            .await?
            .into_inner()
            .job_id)
    }

    pub async fn job(&self, job_id: &str) -> pb::Job {
        let request = pb::GetJobRequest {
            job_id: job_id.to_owned(),
        };
        self.farm
            .clone()
            .get_job(request)
            .await
            .expect("get job")
            .into_inner()
    }

    /// Downloads `key` through the coordinator; returns the chunk sizes and
    /// the bytes.
    pub async fn download(&self, key: &str) -> Result<(Vec<usize>, Vec<u8>), Status> {
        let request = pb::DownloadRequest {
            key: key.to_owned(),
        };
        let mut chunks = self
            .farm
            .clone()
            .download_output(request)
            .await?
            .into_inner();
        let (mut sizes, mut data) = (Vec::new(), Vec::new());
        while let Some(chunk) = chunks.message().await? {
            sizes.push(chunk.data.len());
            data.extend(chunk.data);
        }
        Ok((sizes, data))
    }

    pub async fn cancel(&self, job_id: &str) -> Result<pb::JobState, Status> {
        let request = pb::CancelJobRequest {
            job_id: job_id.to_owned(),
        };
        Ok(self
            .farm
            .clone()
            .cancel_job(request)
            .await?
            .into_inner()
            .state())
    }

    pub async fn register(&self, name: &str) -> String {
        let request = pb::RegisterRequest {
            name: name.to_owned(),
            device: "cpu".into(),
            memory_bytes: 1 << 30,
            max_untiled_pixels: 0,
            slots: 1,
            engine_version: "test".into(),
        };
        self.work
            .clone()
            .register(request)
            .await
            .expect("register")
            .into_inner()
            .worker_id
    }

    pub async fn lease(&self, worker_id: &str, wait_ms: u32) -> Option<pb::Task> {
        self.try_lease(worker_id, wait_ms)
            .await
            .expect("lease succeeds")
    }

    pub async fn try_lease(
        &self,
        worker_id: &str,
        wait_ms: u32,
    ) -> Result<Option<pb::Task>, Status> {
        let request = pb::LeaseRequest {
            worker_id: worker_id.to_owned(),
            wait_ms,
        };
        Ok(self.work.clone().lease(request).await?.into_inner().task)
    }

    pub async fn heartbeat(
        &self,
        worker_id: &str,
        task: &pb::Task,
        progress: Option<pb::Progress>,
    ) -> Result<pb::HeartbeatResponse, Status> {
        let request = pb::HeartbeatRequest {
            worker_id: worker_id.to_owned(),
            task_id: task.task_id.clone(),
            attempt: task.attempt,
            progress,
        };
        Ok(self.work.clone().heartbeat(request).await?.into_inner())
    }

    /// Writes one output object below the task's prefix; returns its key.
    pub async fn put_output(&self, task: &pb::Task, name: &str, data: &'static [u8]) -> String {
        let key = format!("{}{name}", task.output_prefix);
        self.store
            .put(&key, Bytes::from_static(data))
            .await
            .expect("put output");
        key
    }

    pub async fn complete(
        &self,
        worker_id: &str,
        task: &pb::Task,
        output_keys: Vec<String>,
    ) -> Result<(), Status> {
        let request = pb::CompleteRequest {
            worker_id: worker_id.to_owned(),
            task_id: task.task_id.clone(),
            attempt: task.attempt,
            output_keys,
        };
        self.work.clone().complete(request).await?;
        Ok(())
    }

    /// Puts one output and completes with it.
    pub async fn finish(&self, worker_id: &str, task: &pb::Task) {
        let key = self.put_output(task, "out.png", b"stylized").await;
        self.complete(worker_id, task, vec![key])
            .await
            .expect("complete succeeds");
    }

    pub async fn fail(
        &self,
        worker_id: &str,
        task: &pb::Task,
        message: &str,
        permanent: bool,
    ) -> Result<(), Status> {
        let request = pb::FailRequest {
            worker_id: worker_id.to_owned(),
            task_id: task.task_id.clone(),
            attempt: task.attempt,
            message: message.to_owned(),
            permanent,
        };
        self.work.clone().fail(request).await?;
        Ok(())
    }

    /// Polls the job until `done` holds for it, failing the test after
    /// [`PATIENCE`]. For the few waits no event signals (a lease expiring).
    pub async fn wait_for_job(
        &self,
        job_id: &str,
        what: &str,
        done: impl Fn(&pb::Job) -> bool,
    ) -> pb::Job {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let job = self.job(job_id).await;
            if done(&job) {
                return job;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "job never reached: {what}; last: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for TestFarm {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            let _ = server.stop.send(());
        }
    }
}

async fn spawn(config: CoordinatorConfig) -> (Server, SocketAddr, HttpServer, Coordinator) {
    let coordinator = Coordinator::open(config).await.expect("coordinator opens");
    let http_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind HTTP");
    let http = coordinator
        .serve_http(http_listener)
        .await
        .expect("HTTP serves");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let (stop, stopped) = oneshot::channel::<()>();
    let handle = coordinator.clone();
    let task = tokio::spawn(coordinator.serve(listener, async move {
        let _ = stopped.await;
    }));
    (Server { stop, task }, addr, http, handle)
}

/// A `Schedules` client of the coordinator at `addr` whose calls carry `token`.
pub async fn schedules_client(addr: SocketAddr, token: &str) -> SchedulesClient<AuthChannel> {
    SchedulesClient::new(channel(addr, Some(token)).await)
}

/// Clients of the coordinator at `addr` whose calls carry `token`.
pub async fn clients(
    addr: SocketAddr,
    token: Option<&str>,
) -> (
    FarmClient<AuthChannel>,
    WorkClient<AuthChannel>,
    AdminClient<AuthChannel>,
) {
    let channel = channel(addr, token).await;
    (
        FarmClient::new(channel.clone()),
        WorkClient::new(channel.clone()),
        AdminClient::new(channel),
    )
}

/// A channel to the coordinator at `addr` whose calls carry `token`.
async fn channel(addr: SocketAddr, token: Option<&str>) -> AuthChannel {
    let to = Connection::new(format!("http://{addr}"), token.map(Into::into));
    let channel = to
        .endpoint()
        .expect("endpoint")
        .connect()
        .await
        .expect("connect");
    tonic::service::interceptor::InterceptedService::new(channel, to.bearer().expect("token"))
}

/// A valid single job for the given inputs.
pub fn spec(content: &str, style: &str) -> pb::JobSpec {
    let layer = |name: &str| pb::LayerWeight {
        layer: name.into(),
        weight: 1.0,
    };
    pb::JobSpec {
        name: "test job".into(),
        kind: "single".into(),
        content_key: content.into(),
        styles: vec![pb::StyleInput {
            input_key: style.into(),
            weight: 1.0,
            ..Default::default()
        }],
        settings: Some(pb::RenderSettings {
            size: 64,
            iterations: 10,
            seed: 7,
            optimizer: "lbfgs".into(),
            learning_rate: 1.0,
            lbfgs_history: 10,
            content_weight: 5.0,
            style_weight: 100.0,
            tv_weight: 0.001,
            content_layers: vec![layer("relu4_2")],
            style_layers: vec![layer("relu1_1"), layer("relu2_1"), layer("relu3_1")],
            init: "noise".into(),
            pooling: "max".into(),
            style_scale: 1.0,
            original_colors: "none".into(),
            tol_window: 50,
            ..Default::default()
        }),
        priority: 0,
        ..Default::default()
    }
}

/// Asserts a gRPC error's code and that its message mentions `needle`.
#[track_caller]
pub fn assert_status<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, needle: &str) {
    match result {
        Ok(v) => panic!("expected {code:?} ({needle}), got Ok({v:?})"),
        Err(s) => {
            assert_eq!(s.code(), code, "{}", s.message());
            assert!(
                s.message().contains(needle),
                "{:?} lacks {needle:?}",
                s.message()
            );
        }
    }
}

/// Awaits `f`, failing the test after [`PATIENCE`].
pub async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

pub fn state(job: &pb::Job) -> pb::JobState {
    job.state()
}
