"""How long a test waits for a child process: a bound against a hang, never a speed target.
A child that takes 10 s on an idle machine takes a minute or more on a shared CI machine at
load 6-9 on two cores; the bound must hold that and still end a hang. Kept under the per-test
timeout (pyproject.toml), so a hung child is reported as the child's, with its output."""
CHILD_S = 540
