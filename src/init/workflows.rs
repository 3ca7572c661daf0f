//! The three workflows `dagship init` writes: the pull request check, the deploy on merge, and the manual deploy
//! (with a rollback input). Each follows the Action's security rules: nothing deploys on `pull_request`, every
//! action is pinned by commit, each job gets only the permissions it uses, and inputs reach dagship as the
//! Action's INPUT_* variables, never through a shell. Cloud identities come from GitHub variables (`vars.*`,
//! per GitHub environment for the deploys), so the files need no editing beyond the pin of dagship itself.
use super::Provider;
use super::scan::Layout;

/// The released Action, pinned by commit: replace the zeros with the commit of the release you reviewed.
pub const DAGSHIP_ACTION: &str = "your-org/dagship@0000000000000000000000000000000000000000 # the release you reviewed";
const CHECKOUT: &str = "actions/checkout@11bd71901bbe5b1630ceea73d27597364c9af683 # v4.2.2";
const GOOGLE_AUTH: &str = "google-github-actions/auth@6fc4af4b145ae7821d527454aa9bd537d1f2dc5f # v2.1.7";
const AWS_AUTH: &str = "aws-actions/configure-aws-credentials@e3dd6a429d7300a6a4c196c26e071d42e0343502 # v4.0.2";

pub const PULL_REQUEST_FILE: &str = ".github/workflows/dagship-pull-request.yml";
pub const DEPLOY_FILE: &str = ".github/workflows/dagship-deploy.yml";
pub const MANUAL_FILE: &str = ".github/workflows/dagship-manual.yml";

/// The cloud login step; `identity` names the GitHub variable holding the service account or role.
fn auth_step(provider: Provider, identity: &str) -> String {
    match provider {
        Provider::Composer => format!(
            "      - uses: {GOOGLE_AUTH}\n        with:\n          workload_identity_provider: ${{{{ vars.GCP_WORKLOAD_IDENTITY_PROVIDER }}}}\n          service_account: ${{{{ vars.{identity} }}}}\n"
        ),
        Provider::Mwaa => format!(
            "      - uses: {AWS_AUTH}\n        with:\n          role-to-assume: ${{{{ vars.{identity} }}}}\n          aws-region: ${{{{ vars.AWS_REGION }}}}\n"
        ),
    }
}

fn checkout_step(full_history: bool) -> String {
    let depth = if full_history { "          fetch-depth: 0\n" } else { "" };
    format!("      - uses: {CHECKOUT}\n        with:\n{depth}          persist-credentials: false\n")
}

fn identity_names(provider: Provider) -> (&'static str, &'static str) {
    match provider {
        Provider::Composer => ("DAGSHIP_READER_SERVICE_ACCOUNT", "DAGSHIP_DEPLOYER_SERVICE_ACCOUNT"),
        Provider::Mwaa => ("DAGSHIP_READER_ROLE", "DAGSHIP_DEPLOYER_ROLE"),
    }
}

fn identity_comment(provider: Provider) -> &'static str {
    match provider {
        Provider::Composer => {
            "# Set the repository variables GCP_WORKLOAD_IDENTITY_PROVIDER and DAGSHIP_READER_SERVICE_ACCOUNT (read\n\
             # access to the environments' buckets); keyless, through workload identity federation.\n"
        }
        Provider::Mwaa => {
            "# Set the repository variables AWS_REGION and DAGSHIP_READER_ROLE (an IAM role reading the environments'\n\
             # buckets and MWAA's GetEnvironment); keyless, through GitHub's OIDC.\n"
        }
    }
}

pub fn pull_request(layout: &Layout, provider: Provider) -> String {
    let (reader, _) = identity_names(provider);
    let mut text = format!(
        "# Pull request checks, written by `dagship init`: changed filters, the job test matrix, the DAG import check,\n\
         # dbt slim compile against the environment the base branch deploys to, the deploy plan, and one sticky\n\
         # comment. It never deploys: dagship refuses to write on a pull_request event.\n{}\
         # Pin dagship to the commit of the release you reviewed (the zeros below).\n\
         name: dagship pull request\n\n\
         on:\n  pull_request:\n\n\
         permissions:\n  contents: read\n\n\
         concurrency:\n  group: dagship-pr-${{{{ github.event.pull_request.number }}}}\n  cancel-in-progress: true\n\n\
         jobs:\n  check:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 30\n    permissions:\n      contents: read\n      \
         id-token: write        # keyless cloud login\n      pull-requests: write   # the sticky comment\n",
        identity_comment(provider)
    );
    if !layout.jobs.is_empty() {
        text.push_str(
            "    outputs:\n      matrix: ${{ steps.dagship.outputs.matrix }}\n      has_jobs: ${{ steps.dagship.outputs.has_jobs }}\n",
        );
    }
    text.push_str("    steps:\n");
    text.push_str(&checkout_step(true));
    text.push_str(&auth_step(provider, reader));
    text.push_str(&format!("      - id: dagship\n        uses: {DAGSHIP_ACTION}\n"));
    if !layout.jobs.is_empty() {
        text.push_str(
            "\n  jobs:\n    needs: check\n    if: needs.check.outputs.has_jobs == 'true'\n    runs-on: ubuntu-24.04\n    \
             timeout-minutes: 30\n    strategy:\n      fail-fast: false      # one failing job must not hide the others\n      \
             matrix: ${{ fromJSON(needs.check.outputs.matrix) }}\n    name: test ${{ matrix.name }}\n    steps:\n",
        );
        text.push_str(&checkout_step(false));
        text.push_str(
            "      - name: Run the job's tests\n        working-directory: ${{ matrix.job }}\n        env:\n          \
             # The tests import the job from the repository root.\n          PYTHONPATH: ${{ github.workspace }}\n        \
             run: |\n          python3 -m venv \"$RUNNER_TEMP/venv\"\n          \
             \"$RUNNER_TEMP/venv/bin/pip\" install -r requirements.txt pytest\n          \
             \"$RUNNER_TEMP/venv/bin/python\" -m pytest -p no:cacheprovider tests\n",
        );
    }
    text
}

/// One job per environment a branch deploys, each in its GitHub environment (protection rules, its own
/// identity) and its own concurrency group, so two merges never deploy at once.
pub fn deploy(provider: Provider, branch: &str, environment: &str) -> String {
    let (_, deployer) = identity_names(provider);
    let timeout = match provider {
        Provider::Composer => 60,
        Provider::Mwaa => 90, // an MWAA environment update takes tens of minutes
    };
    let mut text = format!(
        "# Deploys on merge, written by `dagship init`: a push to `{branch}` deploys `{environment}` (dagship.yml maps\n\
         # the branch). The GitHub environment `{environment}` holds the protection rules and the variable {deployer};\n\
         # the concurrency group makes a second merge wait instead of interleaving.\n\
         # Pin dagship to the commit of the release you reviewed (the zeros below).\n\
         name: dagship deploy\n\n\
         on:\n  push:\n    branches: [{branch}]\n\n\
         permissions:\n  contents: read\n\n\
         jobs:\n  {environment}:\n    runs-on: ubuntu-24.04\n    timeout-minutes: {timeout}\n    environment: {environment}\n    \
         concurrency:\n      group: dagship-deploy-{environment}\n      cancel-in-progress: false   # never cut a deploy in half\n    \
         permissions:\n      contents: read\n      id-token: write\n      deployments: write\n    steps:\n"
    );
    text.push_str(&checkout_step(true));
    text.push_str(&auth_step(provider, deployer));
    text.push_str(&format!(
        "      - id: dagship\n        uses: {DAGSHIP_ACTION}\n        with:\n          environment: {environment}\n"
    ));
    text
}

/// A manual deploy of a chosen environment (a dry run unless unticked), or a rollback with `rollback-to`. The
/// Action reads the dispatch inputs itself: nothing is interpolated into a shell.
pub fn manual(provider: Provider, environments: &[String]) -> String {
    let (_, deployer) = identity_names(provider);
    let mut text = format!(
        "# Manual deploys and rollbacks, written by `dagship init`: deploys the chosen environment (a dry run unless\n\
         # unticked), or rolls it back to `rollback-to` (a history record id, a commit, or `previous`). dagship reads\n\
         # these inputs itself; none goes through a shell. Each GitHub environment holds its variable {deployer}.\n\
         # Pin dagship to the commit of the release you reviewed (the zeros below).\n\
         name: dagship manual deploy\n\n\
         on:\n  workflow_dispatch:\n    inputs:\n      environment:\n        description: Environment to deploy\n        \
         type: choice\n        options: [{}]\n        required: true\n      dry-run:\n        \
         description: Plan only, write nothing\n        type: boolean\n        default: true\n      rollback-to:\n        \
         description: Roll back instead (a history record id, a commit, or previous); empty deploys\n        \
         type: string\n        default: \"\"\n\n\
         permissions:\n  contents: read\n\n\
         jobs:\n  deploy:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 90\n    environment: ${{{{ inputs.environment }}}}\n    \
         concurrency:\n      group: dagship-deploy-${{{{ inputs.environment }}}}   # shared with the deploy on merge\n      \
         cancel-in-progress: false\n    \
         permissions:\n      contents: read\n      id-token: write\n      deployments: write\n    steps:\n",
        environments.join(", ")
    );
    text.push_str(&checkout_step(true));
    text.push_str(&auth_step(provider, deployer));
    text.push_str(&format!(
        "      - id: dagship\n        uses: {DAGSHIP_ACTION}\n        # reads the dispatch inputs environment, dry-run and rollback-to\n"
    ));
    text
}
