"""Runs a command on a pseudo-terminal and answers its prompts (for the interactive passphrase test).
Usage: pty_drive.py PROMPT=ANSWER [PROMPT=ANSWER ...] -- COMMAND ARGS...  Prints the transcript and
the exit code. Node has no pty module; Python's standard library does."""
import os, pty, sys, time

split = sys.argv.index("--")
pairs = [a.split("=", 1) for a in sys.argv[1:split]]
args = sys.argv[split + 1:]
pid, fd = pty.fork()
if pid == 0:
    env = dict(os.environ)
    env.pop("ENIGMA_PASSPHRASE", None)
    os.execvpe(args[0], args, env)
out = b""
def read_until(s, timeout=30):
    global out
    end = time.time() + timeout
    while s not in out and time.time() < end:
        try:
            out += os.read(fd, 4096)
        except OSError:
            break
for prompt, answer in pairs:
    read_until(prompt.encode())
    os.write(fd, answer.encode() + b"\r")
while True:
    try:
        chunk = os.read(fd, 4096)
        if not chunk:
            break
        out += chunk
    except OSError:
        break
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
print("\nexit", os.WEXITSTATUS(status))
