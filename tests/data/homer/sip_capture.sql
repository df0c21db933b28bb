-- The table Kamailio's sipcapture module (5.6) inserts into, for PostgreSQL. Debian ships no
-- sipcapture schema and the module's own sql/create_sipcapture_postgress.sql predates HOMER 5 (it
-- lacks correlation_id, the *_domain and custom_field columns), so this follows the column list
-- of sip_capture_store() in src/modules/sipcapture/sipcapture.c, in its order, with the types of
-- its db values: DATETIME -> timestamp, BIGINT -> bigint, INT -> integer, STR -> text, and BLOB
-- (the message) -> bytea, so that the bytes stored are the bytes sent.
CREATE TABLE sip_capture (
    id bigserial PRIMARY KEY,
    date timestamp without time zone NOT NULL,
    micro_ts bigint NOT NULL,
    method text NOT NULL,
    reply_reason text NOT NULL,
    ruri text NOT NULL,
    ruri_user text NOT NULL,
    from_user text NOT NULL,
    from_tag text NOT NULL,
    to_user text NOT NULL,
    to_tag text NOT NULL,
    pid_user text NOT NULL,
    contact_user text NOT NULL,
    auth_user text NOT NULL,
    callid text NOT NULL,
    callid_aleg text NOT NULL,
    via_1 text NOT NULL,
    via_1_branch text NOT NULL,
    cseq text NOT NULL,
    reason text NOT NULL,
    content_type text NOT NULL,
    auth text NOT NULL,
    user_agent text NOT NULL,
    source_ip text NOT NULL,
    source_port integer NOT NULL,
    destination_ip text NOT NULL,
    destination_port integer NOT NULL,
    contact_ip text NOT NULL,
    contact_port integer NOT NULL,
    originator_ip text NOT NULL,
    originator_port integer NOT NULL,
    proto integer NOT NULL,
    family integer NOT NULL,
    rtp_stat text NOT NULL,
    type integer NOT NULL,
    node text NOT NULL,
    correlation_id text NOT NULL,
    from_domain text NOT NULL,
    to_domain text NOT NULL,
    ruri_domain text NOT NULL,
    diversion text NOT NULL,
    msg bytea NOT NULL,
    custom_field1 text NOT NULL,
    custom_field2 text NOT NULL,
    custom_field3 text NOT NULL
);
CREATE INDEX sip_capture_callid_idx ON sip_capture (callid);
CREATE INDEX sip_capture_date_idx ON sip_capture (date);
