// What the bot needs deployed besides the webhook, asked of the bot itself when the framework
// reads serverless.yml, so that a plain `serverless deploy` deploys the long-work queue and
// worker, and the Scheduler resources, of a bot that uses them (`make deploy` passes the same
// answers as --param, which win). A bot that cannot be asked stops the deploy with the fix.
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");

function python() {
  if (process.env.PYTHON_BIN) return process.env.PYTHON_BIN;
  const venv = path.join(root, ".venv", "bin", "python");
  return fs.existsSync(venv) ? venv : "python3";
}

function ask(command, param) {
  const interpreter = python();
  try {
    const answer = execFileSync(interpreter, ["-m", "lambdagram", command], {
      cwd: root,
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    }).trim();
    if (answer === "on" || answer === "off") return answer;
    throw new Error(`it answered ${JSON.stringify(answer)}`);
  } catch (error) {
    const said = String(error.stderr || error.message).trim().split("\n").pop();
    throw new Error(
      `cannot ask the bot whether it needs ${param} (${interpreter} -m lambdagram ${command}: ` +
        `${said}). Run \`make setup\` first (it makes .venv), or say it yourself: ` +
        `serverless deploy --param="${param}=on" (or off)`,
    );
  }
}

let answers;
module.exports = async ({ options }) => {
  // --param="longWork=..." wins over this default; the framework resolves it all the same.
  const given = Object.fromEntries(
    [].concat(options.param || []).map((pair) => [pair.split("=")[0], pair.slice(pair.indexOf("=") + 1)]),
  );
  answers ??= {
    longWork: given.longWork ?? ask("long-work", "longWork"),
    timers: given.timers ?? ask("timers", "timers"),
  };
  return answers;
};
