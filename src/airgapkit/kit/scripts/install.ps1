# Install airgapkit from this kit with no network: .\install.ps1 [--python PATH] [--prefix DIR | --venv DIR]
#
# Finds a Python 3.10 or later that the kit holds wheels for (the py launcher's, or --python), then
# runs the kit's install.py with it: a virtual environment, pip install --no-index --require-hashes
# from the kit's wheels, and the installed version printed. Nothing reaches a network.
# (No param block: a plain script gets --prefix and --venv as they are, in $args.)
# Exit codes are checked one by one: native commands writing to stderr must not stop the script.
$installer = Join-Path $PSScriptRoot "install.py"
$python = $null
$rest = @()
for ($i = 0; $i -lt $args.Count; $i++) {
    if ($args[$i] -eq "--python") { $python = $args[$i + 1]; $i++ } else { $rest += $args[$i] }
}
if ($python) {
    $candidates = @(, @($python))
} else {
    $candidates = @(@("py", "-3.13"), @("py", "-3.12"), @("py", "-3.11"), @("py", "-3.10"), @(, "python"))
}
$fallback = $null
foreach ($candidate in $candidates) {
    $exe = $candidate[0]
    $pre = @($candidate | Select-Object -Skip 1)
    if (-not (Get-Command $exe -ErrorAction SilentlyContinue)) { continue }
    & $exe @pre -c "import sys; sys.exit(sys.version_info < (3, 10))" 2>$null
    if ($LASTEXITCODE -ne 0) { continue }
    if (-not $fallback) { $fallback = $candidate }
    & $exe @pre $installer --check-target 2>$null
    if ($LASTEXITCODE -eq 0) {
        & $exe @pre $installer @rest
        exit $LASTEXITCODE
    }
}
if ($fallback) {
    $exe = $fallback[0]
    $pre = @($fallback | Select-Object -Skip 1)
    & $exe @pre $installer @rest  # it says which targets the kit holds
    exit $LASTEXITCODE
}
[Console]::Error.WriteLine("install.ps1: no Python 3.10 or later found; name one with --python PATH, or use the kit's single executable")
exit 1
