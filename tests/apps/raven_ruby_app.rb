# raven-ruby (the legacy Ruby SDK) against Kent: ruby raven_ruby_app.rb DSN
# Sends a message and an exception with a cause, with user, tags and
# breadcrumbs, to /store/; prints the event IDs as JSON.
require "json"
require "logger"
require "raven"

Raven.configure do |config|
  config.dsn = ARGV[0]
  config.release = "kent-tests@1.0.0"
  config.current_environment = "test"
  config.async = false
  config.logger = Logger.new(nil)
end

def load_order(id)
  Integer("order-#{id}")
rescue ArgumentError
  raise KeyError, "order #{id} not found"
end

Raven.user_context(id: "u-7", email: "ada@example.com")
Raven.tags_context(shard: "eu-1")
Raven.breadcrumbs.record do |crumb|
  crumb.category = "auth"
  crumb.message = "user logged in"
end
Raven.breadcrumbs.record do |crumb|
  crumb.category = "cart"
  crumb.message = "item added"
  crumb.data = { "n" => 3 }
end
ids = [Raven.capture_message("hello from raven-ruby")&.id]
begin
  load_order(42)
rescue KeyError => e
  ids << Raven.capture_exception(e)&.id
end

puts JSON.generate({ event_ids: ids, sdk_version: Raven::VERSION })
