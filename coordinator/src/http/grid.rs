//! `GET /jobs/{id}/grid`: a finished grid job as a page, its cells in rows
//! and columns with each cell's style blend (a gallery job has a page of
//! its own among its outputs, `gallery/index.html`, which the job page
//! links to).

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use maud::html;
use prost::Message;
use stylefarm_proto::pb;
use stylefarm_spec::geometry::grid_cells;
use stylefarm_spec::{GridAxis, JobKind, JobSpec};

use super::pages::layout;
use super::session::{caller, error_page};
use crate::error::CoordinatorError;
use crate::server::Coordinator;
use crate::tokens::Role;

pub(crate) async fn grid(
    State(coordinator): State<Coordinator>,
    headers: HeaderMap,
    Path(job_id): Path<String>,
) -> Response {
    let who = match caller(&coordinator, &headers, Role::Client, "the grid page").await {
        Ok(who) => who,
        Err(refused) => return refused.page(),
    };
    let job = match coordinator.get_job(&job_id, &who).await {
        Ok(job) => job,
        Err(e) => return error_page(&e),
    };
    let spec = pb::JobSpec::decode(job.spec.as_slice())
        .map_err(|e| CoordinatorError::Corrupt(format!("spec of job {job_id}: {e}")))
        .and_then(|p| JobSpec::try_from(&p).map_err(CoordinatorError::from));
    let spec = match spec {
        Ok(spec) if spec.kind == JobKind::Grid => spec,
        Ok(_) => {
            return error_page(&CoordinatorError::InvalidArgument {
                field: "job",
                problem: format!("job {job_id} is not a grid job"),
            });
        }
        Err(e) => return error_page(&e),
    };
    let (rows, cols, cells) = grid_cells(&spec);
    let keys: Vec<&String> = job.tasks.iter().flat_map(|t| &t.output_keys).collect();
    let cell_key = |row: u32, col: u32| {
        let name = format!("/r{row}-c{col}.png");
        keys.iter().find(|k| k.ends_with(&name)).map(|k| k.as_str())
    };
    let caption = |weights: &[f64], factor: f64| {
        if spec.grid.axis == GridAxis::Weights {
            format!("style weight {:.3}", spec.settings.style_weight * factor)
        } else {
            spec.styles
                .iter()
                .zip(weights)
                .filter(|(_, w)| **w > 0.0)
                .map(|(s, w)| format!("{} {w:.2}", s.name))
                .collect::<Vec<_>>()
                .join(" + ")
        }
    };
    layout(
        &format!("grid {job_id}"),
        html! {
            h1 { "Grid " (spec.name) }
            p { a href=(format!("/jobs/{job_id}")) { "job " code { (job_id) } } " · " (rows) " × " (cols) " cells · " (job.state.as_str()) }
            table #grid {
                @for row in 0..rows {
                    tr {
                        @for cell in cells.iter().filter(|c| c.row == row) {
                            td {
                                @if let Some(key) = cell_key(cell.row, cell.col) {
                                    a href=(format!("/objects/{key}")) { img style="max-width: 220px" src=(format!("/objects/{key}")) alt=(format!("r{}c{}", cell.row, cell.col)); }
                                } @else { "(not rendered)" }
                                br;
                                small { (caption(&cell.weights, cell.style_weight_factor)) }
                            }
                        }
                    }
                }
            }
        },
    )
    .into_response()
}
