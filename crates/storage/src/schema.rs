//! Diesel's view of the tables created by `migrations/`. Kept by hand in step with the SQL; the
//! storage tests run every query against the migrated schema, so a drift fails them.

diesel::table! {
    incidents (id) {
        id -> Uuid,
        correlation_key -> Text,
        title -> Text,
        service -> Text,
        environment -> Text,
        severity -> Text,
        team -> Text,
        status -> Text,
        assignee -> Nullable<Text>,
        runbook_url -> Nullable<Text>,
        source_fingerprint -> Text,
        source_starts_at -> Timestamptz,
        source_labels -> Jsonb,
        alert_count -> Int4,
        firing_count -> Int4,
        opened_at -> Timestamptz,
        acknowledged_at -> Nullable<Timestamptz>,
        acknowledged_by -> Nullable<Text>,
        resolved_at -> Nullable<Timestamptz>,
        resolved_by -> Nullable<Text>,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        version -> Int8,
    }
}

diesel::table! {
    alerts (id) {
        id -> Int8,
        incident_id -> Uuid,
        fingerprint -> Text,
        starts_at -> Timestamptz,
        ends_at -> Nullable<Timestamptz>,
        state -> Text,
        labels -> Jsonb,
        annotations -> Jsonb,
        generator_url -> Text,
        receiver -> Text,
        group_key -> Text,
        first_received_at -> Timestamptz,
        last_received_at -> Timestamptz,
        last_firing_report_at -> Timestamptz,
    }
}

diesel::table! {
    timeline_entries (id) {
        id -> Int8,
        incident_id -> Uuid,
        at -> Timestamptz,
        kind -> Text,
        actor -> Text,
        status -> Nullable<Text>,
        detail -> Jsonb,
    }
}

diesel::table! {
    outbox (id) {
        id -> Int8,
        events -> Text,
        created_at -> Timestamptz,
        event_ids -> Array<Uuid>,
        traceparents -> Array<Nullable<Text>>,
    }
}

diesel::table! {
    command_outcomes (command_id) {
        command_id -> Uuid,
        incident_id -> Uuid,
        action -> Text,
        actor -> Text,
        outcome -> Jsonb,
        applied_at -> Timestamptz,
    }
}

diesel::joinable!(alerts -> incidents (incident_id));
diesel::joinable!(timeline_entries -> incidents (incident_id));
diesel::allow_tables_to_appear_in_same_query!(
    incidents,
    alerts,
    timeline_entries,
    outbox,
    command_outcomes,
    notification_deliveries,
    notification_threads
);

diesel::table! {
    notification_deliveries (id) {
        id -> Int8,
        event_id -> Uuid,
        target -> Text,
        incident_id -> Uuid,
        event -> Text,
        status -> Text,
        attempts -> Int4,
        next_attempt_at -> Timestamptz,
        claimed_until -> Nullable<Timestamptz>,
        last_error -> Nullable<Text>,
        created_at -> Timestamptz,
        finished_at -> Nullable<Timestamptz>,
        traceparent -> Nullable<Text>,
    }
}

diesel::table! {
    notification_threads (incident_id, target) {
        incident_id -> Uuid,
        target -> Text,
        channel -> Text,
        reference -> Text,
        created_at -> Timestamptz,
    }
}
