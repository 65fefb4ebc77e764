# sentry-ruby against Kent: ruby ruby_app.rb DSN
# Sends a message, an exception with a cause (with user, tags and
# breadcrumbs), a transaction with a child span and a session-free flush;
# prints the event IDs as JSON.
require "json"
require "sentry-ruby"

Sentry.init do |config|
  config.dsn = ARGV[0]
  config.release = "kent-tests@1.0.0"
  config.environment = "test"
  config.traces_sample_rate = 1.0
  config.background_worker_threads = 0 # send before the script ends
  config.logger = Logger.new(nil)
end

def load_order(id)
  Integer("order-#{id}")
rescue ArgumentError
  raise KeyError, "order #{id} not found"
end

Sentry.set_user(id: "u-7", email: "ada@example.com")
Sentry.set_tags(shard: "eu-1")
Sentry.add_breadcrumb(Sentry::Breadcrumb.new(category: "auth", message: "user logged in"))
Sentry.add_breadcrumb(
  Sentry::Breadcrumb.new(category: "cart", message: "item added", data: { "n" => 3 })
)
ids = [Sentry.capture_message("hello from ruby").event_id]
begin
  load_order(42)
rescue KeyError => e
  ids << Sentry.capture_exception(e).event_id
end

transaction = Sentry.start_transaction(name: "nightly-report", op: "task")
span = transaction.start_child(op: "db", description: "load rows")
span.finish
transaction.finish
ids << transaction.trace_id

puts JSON.generate({ event_ids: ids, sdk_version: Sentry::VERSION })
